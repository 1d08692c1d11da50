"""JSON API of the pipeline engine: executions, progress, cancel, actions, the event log, notifications."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Body, Router, Status
from ninja.pagination import paginate

from pipelines import notifications, queueing, selectors, services
from pipelines.actions.base import Action
from pipelines.actions.registry import all_actions, get_action
from pipelines.filters import EventFilter, ExecutionFilter, NotificationFilter
from pipelines.listing import PagePagination, filter_openapi, filter_queryset
from pipelines.saved_api import router as saved_router
from pipelines.schemas import (
    ActionOut,
    DagValidationOut,
    EventOut,
    ExecutionCreatedOut,
    ExecutionDetailOut,
    ExecutionIn,
    ExecutionOut,
    NotificationOut,
    ProgressOut,
)
from pipelines.validation import submission_errors

router = Router(tags=["pipelines"])
router.add_router("/pipelines", saved_router)


@router.post("/executions", response={201: ExecutionCreatedOut}, summary="Submit a DAG")
def execution_create(request: HttpRequest, payload: dict = Body(...)):
    """Body: the DAG JSON (docs/architecture.md, DAG), or ``{"dag": {...}, "parameters": {...}}``."""
    body = ExecutionIn(**payload) if isinstance(payload.get("dag"), dict) else ExecutionIn(dag=payload)
    queueing.admit()  # 429 + Retry-After while the queue is too deep
    execution = services.execution_submit(dag=body.dag, owner=request.auth, parameters=body.parameters)
    return Status(201, {"execution_id": execution.pk, "status": execution.status})


@router.post("/executions/validate", response=DagValidationOut, summary="Validate a DAG without running it")
def execution_validate(request: HttpRequest, payload: Any = Body(...)):
    """The same checks as submitting (shape, actions, dependencies, cycles, references, the ids params name
    and the permissions actions need); nothing is stored or run. Body as for ``POST /executions``."""
    if isinstance(payload, dict) and isinstance(payload.get("dag"), dict):
        errors = submission_errors(payload["dag"], request.auth, payload.get("parameters"))
    else:
        errors = submission_errors(payload, request.auth)
    return {"valid": not errors, "errors": errors}


@router.get(
    "/executions", response=list[ExecutionOut], summary="List executions", openapi_extra=filter_openapi(ExecutionFilter)
)
@paginate(PagePagination)
def execution_list(request: HttpRequest):
    return filter_queryset(ExecutionFilter, request.GET, selectors.execution_list(user=request.auth))


@router.get("/executions/{execution_id}", response=ExecutionDetailOut, summary="One execution with its steps")
def execution_detail(request: HttpRequest, execution_id: uuid.UUID):
    return selectors.execution_get(user=request.auth, execution_id=execution_id)


@router.get("/executions/{execution_id}/progress", response=ProgressOut, summary="Percent, ETA, current steps")
def execution_progress(request: HttpRequest, execution_id: uuid.UUID, detail: str | None = None):
    execution = selectors.execution_get(user=request.auth, execution_id=execution_id)
    return services.execution_progress(execution=execution, with_steps=detail == "steps")


@router.post("/executions/{execution_id}/cancel", response=ExecutionOut, summary="Cancel an execution")
def execution_cancel(request: HttpRequest, execution_id: uuid.UUID):
    execution = selectors.execution_get(user=request.auth, execution_id=execution_id)
    return services.execution_cancel(execution_id=execution.pk)


def _action_out(action: Action) -> dict[str, Any]:
    meta = action.meta
    return {
        **asdict(meta),
        "execution_mode": meta.execution_mode.value,
        "outputs": list(meta.output_names),
        "output_definitions": [asdict(o) for o in meta.output_specs],
    }


@router.get("/actions", response=list[ActionOut], summary="Action types with their params and outputs")
def action_list(request: HttpRequest):
    return [_action_out(a) for a in all_actions()]


@router.get("/actions/{action_type}", response=ActionOut, summary="One action type")
def action_detail(request: HttpRequest, action_type: str):
    action = get_action(action_type)
    if action is None:
        raise Http404(f"No action type '{action_type}'.")
    return _action_out(action)


@router.get(
    "/events",
    response=list[EventOut],
    summary="The event log, oldest first (poll with ?after=)",
    openapi_extra=filter_openapi(EventFilter),
)
@paginate(PagePagination)
def event_list(request: HttpRequest):
    return filter_queryset(EventFilter, request.GET, selectors.event_list(user=request.auth))


@router.get(
    "/notifications",
    response=list[NotificationOut],
    summary="My notifications, newest first",
    openapi_extra=filter_openapi(NotificationFilter),
)
@paginate(PagePagination)
def notification_list(request: HttpRequest):
    return filter_queryset(NotificationFilter, request.GET, selectors.notification_list(user=request.auth))


@router.post("/notifications/{notification_id}/read", response=NotificationOut, summary="Mark as read")
def notification_read(request: HttpRequest, notification_id: int):
    note = selectors.notification_get(user=request.auth, notification_id=notification_id)
    return notifications.notification_mark_read(notification=note)
