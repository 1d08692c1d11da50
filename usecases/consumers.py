"""``/deployments/<id>/events``: the deployment's Server-Sent Events stream for its page.

The engine's ``EventStreamConsumer`` (replay after ``Last-Event-ID``, channel-layer wake-ups, polling the log)
with the deployment page's HTML rendering (``usecases.sse_render.DeploymentStreamMixin``). Every event that
names the deployment is streamed: the deploy and cleanup executions' callbacks and the cluster jobs' events.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.template.loader import render_to_string

from pipelines.consumers import EventStreamConsumer, sse_message
from pipelines.models import Event
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment
from usecases.selectors.deployments import deployment_list
from usecases.selectors.resources import deployment_health_get
from usecases.services.health import HEALTH_CHANGED
from usecases.sse_render import RESTING, DeploymentStreamMixin

TREE_PARTIAL = "usecases/partials/resource_tree.html"


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


class DeploymentHealthConsumer(EventStreamConsumer):
    """``/deployments/<id>/health-events``: each ``health_changed`` of a running deployment pushes its fresh
    resource tree as the SSE event ``health``. Unlike the page's main stream, which ends when the deployment
    rests, this one stays open while the deployment runs: health changes happen at rest."""

    group_prefix = "deployment"

    def load_object(self, user: Any) -> UseCaseDeployment | None:
        deployment_id = self.scope["url_route"]["kwargs"]["deployment_id"]
        return deployment_list(user=user).filter(pk=deployment_id).first()

    def event_filter(self) -> Q:
        return Q(deployment_id=self.object.pk, type=HEALTH_CHANGED)

    def is_finished(self) -> bool:
        status = UseCaseDeployment.objects.filter(pk=self.object.pk).values_list("status", flat=True).first()
        return status != DeploymentStatus.RUNNING

    def read_events(self, after: int) -> list[Event]:
        events = super().read_events(after)
        if events:  # one fresh tree after the batch's last change is enough
            context = {"deployment": self.object, "health": deployment_health_get(deployment=self.object)}
            for event in events:
                event.sse = b""
            events[-1].sse = sse_message(events[-1].pk, "health", render_to_string(TREE_PARTIAL, context))
        return events

    def render_event(self, event: Event) -> bytes:
        return getattr(event, "sse", b"")
