"""The periodic sweep: timeouts, stale RUNNING steps of killed workers, lost queue messages, undelivered events.

Run by the django-q2 schedule ``pipelines.tasks.sweep`` (see ``apps.ensure_sweep_schedule``) and by
``manage.py pipeline_sweep --loop`` for sub-minute enforcement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pipelines import engine, retention
from pipelines.actions.registry import get_action
from pipelines.events import redeliver_pending
from pipelines.models import ExecutionStatus, PipelineExecution, StepExecution, StepStatus

logger = logging.getLogger(__name__)
BATCH = 500
# Other apps add their own periodic work here (e.g. cluster jobs of dead workers), so one sweep loop — the
# django-q2 schedule or ``pipeline_sweep --loop`` — covers every app at PIPELINE_SWEEP_SECONDS.
_sweepers: dict[str, Callable[[], dict[str, int]]] = {}


def register_sweeper(name: str, sweeper: Callable[[], dict[str, int]]) -> None:
    _sweepers[name] = sweeper


def sweep() -> dict[str, int]:
    counts = {
        "executions_timed_out": _time_out_executions(),
        "steps_timed_out": _time_out_steps(),
        "stale_steps_recovered": _recover_stale_steps(),
        "lost_tasks_requeued": _requeue_lost_tasks(),
        "events_redelivered": redeliver_pending(),
        **retention.prune(),
    }
    for name, sweeper in _sweepers.items():
        try:
            counts.update(sweeper())
        except Exception:  # one app's failing sweeper must not stop the engine's own recovery
            logger.exception("sweeper %s failed", name)
    for execution_id in PipelineExecution.objects.filter(status=ExecutionStatus.RUNNING).values_list("pk", flat=True)[
        :BATCH
    ]:
        engine.advance(execution_id)
    if any(counts.values()):
        logger.info("pipeline sweep: %s", counts)
    return counts


def _time_out_executions() -> int:
    overdue = PipelineExecution.objects.filter(status=ExecutionStatus.RUNNING, deadline__lt=timezone.now())[:BATCH]
    done = 0
    for execution in overdue:
        done += engine.stop_execution(execution, ExecutionStatus.TIMEOUT, "execution exceeded settings.timeout_seconds")
    return done


def _time_out_steps() -> int:
    overdue = StepExecution.objects.select_related("execution").filter(
        status__in=(StepStatus.RUNNING, StepStatus.AWAITING_EVENT), deadline__lt=timezone.now()
    )[:BATCH]
    done = 0
    for step in overdue:
        seconds = int((step.deadline - step.started_at).total_seconds()) if step.started_at else 0
        with transaction.atomic():
            timed_out = engine.step_failed(step, step.status, f"timed out after {seconds} s", final=StepStatus.TIMEOUT)
            if timed_out and step.status == StepStatus.AWAITING_EVENT:
                # The external job may still run: stop it (e.g. cancel the cluster job).
                transaction.on_commit(lambda step=step: engine.call_action_cancel(step))
        done += timed_out
    return done


def _recover_stale_steps() -> int:
    """A RUNNING step whose lease expired lost its worker. Idempotent actions run again (the attempt counts,
    with at least one recovery run); others fail with a clear error rather than run twice."""
    stale = StepExecution.objects.select_related("execution").filter(
        status=StepStatus.RUNNING, lease_expires_at__lt=timezone.now()
    )[:BATCH]
    done = 0
    for step in stale:
        action = get_action(step.action)
        idempotent = bool(action and action.meta.idempotent)
        limit = max(step.max_attempts, 2) if idempotent else step.max_attempts
        now = timezone.now()
        if step.attempt < limit and StepExecution.objects.filter(
            pk=step.pk, status=StepStatus.RUNNING, lease_expires_at__lt=now
        ).update(
            status=StepStatus.PENDING,
            lease_expires_at=None,
            enqueued_at=now,
            next_attempt_at=None,
            error=f"worker lost during attempt {step.attempt}; re-queued",
        ):
            with transaction.atomic():
                engine.enqueue_step(step.pk)
        else:
            engine.step_failed(
                step, StepStatus.RUNNING, f"worker lost during attempt {step.attempt} (lease expired)", retry=False
            )
        done += 1
    return done


def _requeue_lost_tasks() -> int:
    """PENDING steps queued long ago but never claimed: the queue message was lost; queue it again."""
    cutoff = timezone.now() - timedelta(seconds=settings.PIPELINE_STEP_LEASE_SECONDS)
    lost = StepExecution.objects.filter(
        status=StepStatus.PENDING, enqueued_at__lt=cutoff, execution__status=ExecutionStatus.RUNNING
    ).filter(next_attempt_at__isnull=True) | StepExecution.objects.filter(
        status=StepStatus.PENDING,
        enqueued_at__lt=cutoff,
        next_attempt_at__lt=cutoff,
        execution__status=ExecutionStatus.RUNNING,
    )
    done = 0
    for pk in lost.values_list("pk", flat=True)[:BATCH]:
        if StepExecution.objects.filter(pk=pk, status=StepStatus.PENDING, enqueued_at__lt=cutoff).update(
            enqueued_at=timezone.now()
        ):
            with transaction.atomic():
                engine.enqueue_step(pk)
            done += 1
    return done
