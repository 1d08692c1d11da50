"""Fair use of the workers: a per-user limit on steps that hold, or are queued for, a worker.

Without it one user's four ``delay 60`` steps took both workers for two minutes while another user's
deployment waited. ``PIPELINE_MAX_RUNNING_STEPS_PER_USER`` (default: ``Q_WORKERS - 1``, at least 1; 0 turns
it off) caps a user's RUNNING steps plus those already handed to the queue. Steps over the cap are not queued:
they stay PENDING, their execution is flagged ``held_steps``, and the next time one of the user's steps leaves
a worker (completes, fails, is cancelled) the oldest held execution of that user is advanced again; the sweep
advances every running execution as a backstop, so held work is never stranded. AWAITING_EVENT steps do not
count: they wait for a job without holding a worker.

The cap is counted, not locked: two executions of one user advancing at the same instant may together pass it
by a step or so. That is the price of not serialising every user's steps behind one lock.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q

from pipelines.models import ExecutionStatus, PipelineExecution, StepExecution, StepStatus

WAKE_AT_MOST = 10


def user_limit() -> int:
    return max(int(getattr(settings, "PIPELINE_MAX_RUNNING_STEPS_PER_USER", 0) or 0), 0)


def busy_steps(owner_id: Any) -> int:
    """Steps of the user's running executions that hold a worker or sit in the queue for one."""
    return (
        StepExecution.objects.filter(execution__owner_id=owner_id, execution__status=ExecutionStatus.RUNNING)
        .filter(Q(status=StepStatus.RUNNING) | Q(status=StepStatus.PENDING, enqueued_at__isnull=False))
        .count()
    )


def room_for(owner_id: Any, wanted: int) -> int:
    """How many of ``wanted`` ready steps the user may queue now (all of them when there is no limit)."""
    limit = user_limit()
    if not limit or not wanted:
        return wanted
    return min(wanted, max(limit - busy_steps(owner_id), 0))


def held_executions(owner_id: Any, *, exclude: Any = None, count: int = 1) -> list[Any]:
    """The user's oldest running executions whose ready steps were held back by the limit."""
    if not user_limit():
        return []
    held = PipelineExecution.objects.filter(owner_id=owner_id, status=ExecutionStatus.RUNNING, held_steps=True)
    if exclude is not None:
        held = held.exclude(pk=exclude)
    return list(held.order_by("created_at").values_list("pk", flat=True)[: min(count, WAKE_AT_MOST)])
