"""Subscriber of ``budusecasesEvents``: the engine's events about a deployment's
executions become component and deployment statuses.

- step events of the deploy execution whose step id is a component name → that component;
- ``execution_completed`` of the deploy execution → deployment running / failed / (cancelled) stopped;
- ``execution_completed`` of the cleanup (uninstall) execution → stopped, deleted, or failed.
Events of unknown executions and of the ``cluster_health`` / ``notify_complete`` steps are ignored. The
services compare-and-set on status and event id, so a duplicate or out-of-order event changes nothing.
"""

from __future__ import annotations

import logging

from django.db.models import Q

from pipelines.events import EventType
from pipelines.events import subscribe as bus_subscribe
from pipelines.models import Event, ExecutionStatus
from usecases.dag import CALLBACK_TOPIC
from usecases.models.deployments import UseCaseDeployment
from usecases.services import deployments as services

logger = logging.getLogger(__name__)

LISTENER_NAME = "usecases.deployment_listener"


def _execution_id(event: Event) -> str:
    payload = event.payload or {}
    return str(event.execution_id or payload.get("execution_id") or "")


def handle_event(event: Event) -> None:
    execution_id = _execution_id(event)
    if not execution_id:
        return
    deployment = UseCaseDeployment.objects.filter(
        Q(pipeline_execution_id=execution_id) | Q(cleanup_execution_id=execution_id)
    ).first()
    if deployment is None:
        return
    payload = event.payload or {}
    if deployment.cleanup_execution_id == execution_id:
        if event.type == EventType.EXECUTION_COMPLETED:
            ok = payload.get("status") == ExecutionStatus.COMPLETED
            services.cleanup_finished(deployment=deployment, ok=ok, error=payload.get("error") or "uninstall failed")
        return
    if event.type == EventType.EXECUTION_COMPLETED:
        services.deployment_apply_execution_finished(
            deployment=deployment,
            status=str(payload.get("status") or ""),
            error=payload.get("error") or "",
            event_id=event.pk,
        )
        return
    step_id = event.step_id or payload.get("step_id")
    if step_id and deployment.components.filter(component_name=step_id).exists():
        services.component_apply_step_event(
            deployment=deployment,
            component_name=step_id,
            event_type=event.type,
            step_status=str(payload.get("status") or ""),
            outputs=payload.get("outputs") or {},
            error=payload.get("error") or "",
            event_id=event.pk,
        )


def subscribe() -> None:
    bus_subscribe(CALLBACK_TOPIC, handle_event, name=LISTENER_NAME)
