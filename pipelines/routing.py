"""ASGI routes served by Channels consumers (Server-Sent Events); everything else goes to Django."""

from django.urls import path

from pipelines.consumers import ExecutionEventsConsumer

sse_urlpatterns: list = [
    path("executions/<uuid:execution_id>/events", ExecutionEventsConsumer.as_asgi(), name="execution-events"),
]
