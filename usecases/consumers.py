"""``/deployments/<id>/events``: the deployment's Server-Sent Events stream for its page.

The engine's ``EventStreamConsumer`` (replay after ``Last-Event-ID``, channel-layer wake-ups, polling the log)
with the deployment page's HTML rendering (``usecases.sse_render.DeploymentStreamMixin``). Every event that
names the deployment is streamed: the deploy and cleanup executions' callbacks and the cluster jobs' events.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from pipelines.consumers import EventStreamConsumer
from usecases.models.deployments import UseCaseDeployment
from usecases.selectors.deployments import deployment_list
from usecases.sse_render import RESTING, DeploymentStreamMixin


class DeploymentEventsConsumer(DeploymentStreamMixin, EventStreamConsumer):
    group_prefix = "deployment"

    def load_object(self, user: Any) -> UseCaseDeployment | None:
        deployment_id = self.scope["url_route"]["kwargs"]["deployment_id"]
        return deployment_list(user=user).filter(pk=deployment_id).first()

    def event_filter(self) -> Q:
        return Q(deployment_id=self.object.pk)

    def is_finished(self) -> bool:
        """At rest (or deleted): nothing moves until the user acts, so the stream may end."""
        status = UseCaseDeployment.objects.filter(pk=self.object.pk).values_list("status", flat=True).first()
        return status is None or status in RESTING
