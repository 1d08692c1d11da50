"""Writes of saved pipelines: create, change, delete, pause/resume, rotate the webhook secret, run.

A run is an ordinary execution (``services.execution_submit``) owned by the pipeline's owner, whoever or
whatever triggered it, linked to the pipeline (its run history). The interval schedule is a django-q2
``Schedule`` (MINUTES) kept in step with ``schedule_minutes`` and ``paused`` here; cron would need croniter,
which is not installed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.models import Schedule

from budportal.errors import ConflictError, Overloaded, ServiceValidationError
from pipelines import queueing
from pipelines.models import PipelineExecution, SavedPipeline
from pipelines.params import depth_errors
from pipelines.services import execution_submit
from pipelines.validation import submission_errors

logger = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
MAX_SCHEDULE_MINUTES = 366 * 24 * 60
EDITABLE = ("name", "description", "dag", "parameters", "schedule_minutes")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return secret, _hash(secret)


def webhook_secret_matches(*, pipeline: SavedPipeline, given: str) -> bool:
    """Constant-time comparison of the given secret with the stored hash (never the secret itself)."""
    return hmac.compare_digest(_hash(given or ""), pipeline.webhook_secret_hash)


def _errors(*, owner, fields: dict[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if "name" in fields and not (isinstance(fields["name"], str) and NAME.match(fields["name"])):
        errors.append({"loc": ["name"], "msg": "must be 1-100 of a-z, 0-9, '-' and '_', starting with a-z or 0-9"})
    if "description" in fields and not isinstance(fields["description"], str):
        errors.append({"loc": ["description"], "msg": "must be a string"})
    minutes = fields.get("schedule_minutes")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SCHEDULE_MINUTES
    ):
        errors.append({"loc": ["schedule_minutes"], "msg": f"must be null or 1 to {MAX_SCHEDULE_MINUTES}"})
    if "parameters" in fields and not isinstance(fields["parameters"], dict):
        errors.append({"loc": ["parameters"], "msg": "must be an object"})
    if "dag" in fields:
        # The same checks as a submitted DAG, for the owner, at save: a broken pipeline is refused up front.
        dag_errors = submission_errors(fields["dag"], owner, fields.get("parameters"))
        errors += [{**e, "loc": ["dag", *e["loc"]]} if e["loc"][:1] != ["parameters"] else e for e in dag_errors]
    errors += depth_errors(fields.get("parameters"), ("parameters",))
    return errors


def _sync_schedule(pipeline: SavedPipeline) -> None:
    if pipeline.paused or not pipeline.schedule_minutes:
        Schedule.objects.filter(name=pipeline.schedule_name).delete()
        return
    Schedule.objects.update_or_create(
        name=pipeline.schedule_name,
        defaults={
            "func": "pipelines.saved.run_scheduled",
            "args": repr(str(pipeline.pk)),
            "schedule_type": Schedule.MINUTES,
            "minutes": pipeline.schedule_minutes,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(minutes=pipeline.schedule_minutes),
        },
    )


def _save(pipeline: SavedPipeline) -> SavedPipeline:
    try:
        with transaction.atomic():
            pipeline.save()
            _sync_schedule(pipeline)
    except IntegrityError:
        raise ConflictError(f"you already have a pipeline named '{pipeline.name}'") from None
    return pipeline


def saved_pipeline_create(
    *,
    owner,
    name: Any,
    dag: Any,
    description: Any = "",
    parameters: Any = None,
    schedule_minutes: Any = None,
) -> tuple[SavedPipeline, str]:
    """The new pipeline and its webhook secret, which is not stored and so is shown only this once."""
    fields = {"name": name, "dag": dag, "description": description, "parameters": parameters or {}}
    fields["schedule_minutes"] = schedule_minutes
    if errors := _errors(owner=owner, fields=fields):
        raise ServiceValidationError(errors)
    secret, secret_hash = _new_secret()
    pipeline = SavedPipeline(owner=owner, webhook_secret_hash=secret_hash, **fields)
    return _save(pipeline), secret


def saved_pipeline_update(*, pipeline: SavedPipeline, changes: dict[str, Any]) -> SavedPipeline:
    """Change some of ``EDITABLE``; the result is validated as at create."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ServiceValidationError.at([unknown[0]], f"cannot be changed (editable: {', '.join(EDITABLE)})")
    merged = {field: getattr(pipeline, field) for field in EDITABLE} | changes
    if errors := _errors(owner=pipeline.owner, fields=merged):
        raise ServiceValidationError(errors)
    for field, value in changes.items():
        setattr(pipeline, field, value)
    return _save(pipeline)


def saved_pipeline_set_paused(*, pipeline: SavedPipeline, paused: bool) -> SavedPipeline:
    """Pause (no scheduled or webhook runs; on-demand runs still work) or resume."""
    pipeline.paused = paused
    return _save(pipeline)


def saved_pipeline_rotate_secret(*, pipeline: SavedPipeline) -> str:
    """A new webhook secret (the old one stops working at once), shown only this once."""
    secret, pipeline.webhook_secret_hash = _new_secret()
    pipeline.save(update_fields=["webhook_secret_hash", "updated_at"])
    return secret


def saved_pipeline_delete(*, pipeline: SavedPipeline) -> None:
    """Delete the pipeline and its schedule; its runs stay (unlinked) until retention removes them."""
    with transaction.atomic():
        Schedule.objects.filter(name=pipeline.schedule_name).delete()
        pipeline.delete()


def saved_pipeline_run(
    *, pipeline: SavedPipeline, trigger: str, parameters: Any = None, admit: bool = True
) -> PipelineExecution:
    """Submit one run as the pipeline's owner; ``parameters`` override the saved defaults."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ServiceValidationError.at(["parameters"], "must be an object")
    if admit:
        queueing.admit()  # 429 + Retry-After while the queue is too deep
    execution = execution_submit(
        dag=pipeline.dag,
        owner=pipeline.owner,
        parameters={**pipeline.parameters, **(parameters or {})},
        saved_pipeline_id=pipeline.pk,
        trigger=trigger,
    )
    SavedPipeline.objects.filter(pk=pipeline.pk).update(last_run_at=timezone.now())
    return execution


def run_scheduled(pipeline_id: str) -> str | None:
    """The django-q2 Schedule's task: one run, unless the pipeline is gone or paused (then nothing)."""
    pipeline = SavedPipeline.objects.select_related("owner").filter(pk=uuid.UUID(pipeline_id)).first()
    if pipeline is None or pipeline.paused:
        return None
    try:
        execution = saved_pipeline_run(pipeline=pipeline, trigger=SavedPipeline.Trigger.SCHEDULE)
    except (ServiceValidationError, Overloaded) as exc:  # e.g. the owner lost a cluster: skip this tick
        logger.warning("scheduled run of pipeline %s skipped: %s", pipeline.pk, exc)
        return None
    return str(execution.pk)
