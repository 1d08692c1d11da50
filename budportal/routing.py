"""ASGI routes served by Channels consumers (Server-Sent Events); everything else goes to Django."""

from django.urls import path

from pipelines.consumers import ExecutionEventsConsumer
from usecases.consumers import DeploymentEventsConsumer, DeploymentHealthConsumer

sse_urlpatterns: list = [
    path("executions/<uuid:execution_id>/events", ExecutionEventsConsumer.as_asgi(), name="execution-events"),
    path("deployments/<uuid:deployment_id>/events", DeploymentEventsConsumer.as_asgi(), name="deployment-events"),
    path(
        "deployments/<uuid:deployment_id>/health-events",
        DeploymentHealthConsumer.as_asgi(),
        name="deployment-health-events",
    ),
]
