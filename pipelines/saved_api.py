"""``/api/pipelines``: saved pipelines (named DAGs) run on demand, on an interval schedule or by webhook.

Someone else's pipeline is a 404 on every route. The webhook route is the one route without a session or
token: it is authenticated by the pipeline's own secret (``X-Pipeline-Secret``), and a wrong or missing
secret is the same 404 as an unknown pipeline, so it reveals nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.http import Http404
from ninja import Body, Router, Status

from budportal.errors import ServiceValidationError
from budportal.http import ApiRequest
from pipelines import saved, selectors
from pipelines.models import SavedPipeline
from pipelines.schemas import (
    ExecutionOut,
    RunOut,
    SavedPipelineCreatedOut,
    SavedPipelineOut,
    WebhookSecretOut,
)

router = Router(tags=["saved pipelines"])
SECRET_HEADER = "X-Pipeline-Secret"
CREATE_FIELDS = ("name", "dag", "description", "parameters", "schedule_minutes")


def _fields(payload: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ServiceValidationError.at([], "the body must be a JSON object")
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ServiceValidationError.at([unknown[0]], f"unknown field (allowed: {', '.join(allowed)})")
    return payload


def _run_out(execution) -> dict[str, Any]:
    return {"execution_id": execution.pk, "status": execution.status, "trigger": execution.trigger}


@router.get("", response=list[SavedPipelineOut], summary="My saved pipelines")
def saved_pipeline_list(request: ApiRequest):
    return selectors.saved_pipeline_list(user=request.auth).select_related("owner")


@router.post("", response={201: SavedPipelineCreatedOut}, summary="Save a pipeline (the webhook secret is shown once)")
def saved_pipeline_create(request: ApiRequest, payload: Any = Body(...)):
    fields = _fields(payload, CREATE_FIELDS)
    if "name" not in fields or "dag" not in fields:
        raise ServiceValidationError.at(["name" if "name" not in fields else "dag"], "required")
    pipeline, secret = saved.saved_pipeline_create(owner=request.auth, **fields)
    pipeline.webhook_secret = secret  # type: ignore[attr-defined]  # for this response only; never stored
    return Status(201, pipeline)


@router.get("/{pipeline_id}", response=SavedPipelineOut, summary="One saved pipeline")
def saved_pipeline_detail(request: ApiRequest, pipeline_id: uuid.UUID):
    return selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)


@router.patch("/{pipeline_id}", response=SavedPipelineOut, summary="Change a saved pipeline")
def saved_pipeline_update(request: ApiRequest, pipeline_id: uuid.UUID, payload: Any = Body(...)):
    pipeline = selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)
    return saved.saved_pipeline_update(pipeline=pipeline, changes=_fields(payload, saved.EDITABLE))


@router.delete("/{pipeline_id}", response={204: None}, summary="Delete a saved pipeline (its runs stay)")
def saved_pipeline_delete(request: ApiRequest, pipeline_id: uuid.UUID):
    saved.saved_pipeline_delete(pipeline=selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id))
    return Status(204, None)


@router.post("/{pipeline_id}/run", response={201: RunOut}, summary="Run now (body: optional parameters)")
def saved_pipeline_run(request: ApiRequest, pipeline_id: uuid.UUID):
    pipeline = selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)
    parameters = _body_parameters(request)
    trigger = SavedPipeline.Trigger.MANUAL
    execution = saved.saved_pipeline_run(pipeline=pipeline, trigger=trigger, parameters=parameters)
    return Status(201, _run_out(execution))


@router.post("/{pipeline_id}/pause", response=SavedPipelineOut, summary="Pause the schedule and webhook")
def saved_pipeline_pause(request: ApiRequest, pipeline_id: uuid.UUID):
    pipeline = selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)
    return saved.saved_pipeline_set_paused(pipeline=pipeline, paused=True)


@router.post("/{pipeline_id}/resume", response=SavedPipelineOut, summary="Resume the schedule and webhook")
def saved_pipeline_resume(request: ApiRequest, pipeline_id: uuid.UUID):
    pipeline = selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)
    return saved.saved_pipeline_set_paused(pipeline=pipeline, paused=False)


@router.post("/{pipeline_id}/rotate-secret", response=WebhookSecretOut, summary="A new webhook secret (shown once)")
def saved_pipeline_rotate_secret(request: ApiRequest, pipeline_id: uuid.UUID):
    pipeline = selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)
    return {"webhook_secret": saved.saved_pipeline_rotate_secret(pipeline=pipeline)}


@router.get("/{pipeline_id}/runs", response=list[ExecutionOut], summary="Run history, newest first")
def saved_pipeline_runs(request: ApiRequest, pipeline_id: uuid.UUID, limit: int = 50):
    pipeline = selectors.saved_pipeline_get(user=request.auth, pipeline_id=pipeline_id)
    return selectors.saved_pipeline_runs(pipeline=pipeline, limit=limit)


def _body_parameters(request: ApiRequest) -> Any:
    if not request.body:
        return None
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ServiceValidationError.at(["body"], "must be JSON") from None
    if not isinstance(body, dict):
        raise ServiceValidationError.at(["body"], "must be a JSON object")
    return body.get("parameters")


@router.post(
    "/{pipeline_id}/webhook",
    auth=None,
    response={201: RunOut},
    summary=f"Run from outside: header {SECRET_HEADER}; runs as the pipeline's owner",
)
def saved_pipeline_webhook(request: ApiRequest, pipeline_id: uuid.UUID):
    pipeline = selectors.saved_pipeline_for_webhook(pipeline_id=pipeline_id)
    given = request.headers.get(SECRET_HEADER, "")
    # Unknown pipeline, wrong secret and paused pipeline answer alike: the caller learns nothing.
    if pipeline is None or not saved.webhook_secret_matches(pipeline=pipeline, given=given) or pipeline.paused:
        raise Http404("No such pipeline.")
    parameters = _body_parameters(request)
    execution = saved.saved_pipeline_run(
        pipeline=pipeline, trigger=SavedPipeline.Trigger.WEBHOOK, parameters=parameters
    )
    return Status(201, _run_out(execution))
