"""Writes of the pipelines app's executions: submit, cancel, retry (notifications: ``pipelines.notifications``)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from budportal.errors import ConflictError, ServiceValidationError
from pipelines import engine, progress
from pipelines.locking import retry_on_deadlock
from pipelines.models import (
    EXECUTION_ACTIVE,
    STEP_DONE_OK,
    ExecutionStatus,
    PipelineExecution,
    StepExecution,
    StepStatus,
)
from pipelines.validation import submission_errors


def _max_attempts(step: dict) -> int:
    retry = step.get("retry") or {}
    return int(retry.get("max_attempts", 1))


def _insert_steps(execution: PipelineExecution, steps: list[dict]) -> None:
    """One ``executemany`` for every step: ``bulk_create`` on SQLite splits 5,000 rows into ~100 statements
    (its 999-variable limit) and spends most of a second building them."""
    meta = StepExecution._meta
    names = [
        "execution",
        "step_id",
        "action",
        "position",
        "status",
        "attempt",
        "max_attempts",
        "depends_on",
        "params",
        "outputs",
        "error",
        "awaiting_event",
        "external_workflow_id",
        "progress",
    ]
    fields = [meta.get_field(name) for name in names]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    )
    prep = {f.name: f for f in fields}
    execution_id = prep["execution"].get_db_prep_save(execution.pk, connection)
    empty = prep["params"].get_db_prep_save({}, connection)
    depends = prep["depends_on"]
    rows = [
        (
            execution_id,
            step["id"],
            step["action"],
            i,
            StepStatus.PENDING.value,
            0,
            _max_attempts(step),
            depends.get_db_prep_save(list(step.get("depends_on") or []), connection),
            empty,
            empty,
            "",
            False,
            "",
            0.0,
        )
        for i, step in enumerate(steps)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def execution_submit(
    *,
    dag: dict,
    owner,
    parameters: dict | None = None,
    deployment_id: uuid.UUID | str | None = None,
    saved_pipeline_id: uuid.UUID | None = None,
    trigger: str = "",
) -> PipelineExecution:
    """Validate ``dag`` (ServiceValidationError with the path of each problem), store it and start it.

    Ready steps are queued after the caller's transaction commits.
    """
    errors = submission_errors(dag, owner, parameters)
    if errors:
        raise ServiceValidationError(errors)
    with transaction.atomic():
        execution = PipelineExecution.objects.create(
            name=str(dag.get("name") or "")[:200],
            dag=dag,
            parameters=parameters or {},
            callback_topics=list(dag.get("callback_topics") or []),
            owner=owner,
            deployment_id=deployment_id,
            saved_pipeline_id=saved_pipeline_id,
            trigger=trigger,
        )
        _insert_steps(execution, dag["steps"])
        engine.start(execution)
    execution.refresh_from_db()
    return execution


def execution_cancel(*, execution_id: uuid.UUID | str) -> PipelineExecution:
    """Cancel: pending steps CANCELLED, running/awaiting ones CANCELLED with their action's ``cancel``.

    Also called inside the caller's transaction (a deployment's stop/delete): then it runs in a savepoint of
    its own, so a deadlock victim is retried there instead of failing the whole stop.
    """
    execution = PipelineExecution.objects.get(pk=execution_id)
    if execution.status not in EXECUTION_ACTIVE or not _cancel(execution):
        execution.refresh_from_db()
        raise ConflictError(f"execution is {execution.status}; only a pending or running one can be cancelled")
    execution.refresh_from_db()
    return execution


@retry_on_deadlock(savepoint=True)
def _cancel(execution: PipelineExecution) -> bool:
    return engine.stop_execution(execution, ExecutionStatus.CANCELLED, "cancelled by user")


RETRYABLE = (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.TIMEOUT)


def execution_retry(*, execution_id: uuid.UUID | str) -> PipelineExecution:
    """Resume a finished, unsuccessful execution: COMPLETED/SKIPPED steps are kept, every other step starts
    again from PENDING, and the execution is RUNNING again."""
    _retry(execution_id)
    return PipelineExecution.objects.get(pk=execution_id)


@retry_on_deadlock(savepoint=True)
def _retry(execution_id: uuid.UUID | str) -> None:
    execution = PipelineExecution.objects.select_for_update(no_key=True).get(pk=execution_id)
    timeout = execution.settings.get("timeout_seconds")
    now = timezone.now()
    updated = PipelineExecution.objects.filter(pk=execution.pk, status__in=RETRYABLE).update(
        status=ExecutionStatus.RUNNING,
        error="",
        completed_at=None,
        started_at=now,
        deadline=now + timedelta(seconds=timeout) if timeout else None,
    )
    if not updated:
        raise ConflictError(
            f"execution is {execution.status}; only a failed, cancelled or timed-out one can be retried"
        )
    StepExecution.objects.filter(execution=execution).exclude(status__in=STEP_DONE_OK).update(
        status=StepStatus.PENDING,
        attempt=0,
        error="",
        outputs={},
        params={},
        awaiting_event=False,
        external_workflow_id="",
        progress=0.0,
        enqueued_at=None,
        next_attempt_at=None,
        lease_expires_at=None,
        deadline=None,
        started_at=None,
        completed_at=None,
    )
    execution.status = ExecutionStatus.RUNNING
    engine.advance(execution.pk, locked=execution)


def execution_progress(*, execution: PipelineExecution, with_steps: bool = True) -> dict[str, Any]:
    """``{percent, eta_seconds, current_steps, steps: [...]}``; percent never goes backwards."""
    return progress.compute(execution, with_steps=with_steps)
