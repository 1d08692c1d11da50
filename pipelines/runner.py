"""Running one step: claim it (compare-and-set PENDING → RUNNING with a lease), render its params, call the
action, and record the result; and routing job events to the event-driven step that waits for them."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from pipelines import batching, engine, execution_events
from pipelines.actions.base import ActionContext, ActionResult, EventAction, EventContext, EventResult
from pipelines.actions.registry import get_action, run_action, step_timeout_seconds
from pipelines.context import render_context
from pipelines.events import JOB_EVENTS_TOPIC, EventType
from pipelines.models import Event, ExecutionStatus, StepExecution, StepStatus
from pipelines.params import RenderError, find_references, render

logger = logging.getLogger(__name__)
# How long one django-q2 task may keep running steps that became ready behind the one it was queued for.
CONTINUE_SECONDS = 60.0


def _claim(step: StepExecution, timeout: int, params: dict) -> bool:
    """Compare-and-set PENDING → RUNNING with a lease; updates ``step`` in memory on success."""
    now = timezone.now()
    fields = {
        "status": StepStatus.RUNNING,
        "started_at": now,
        "completed_at": None,
        "lease_expires_at": now + timedelta(seconds=settings.PIPELINE_STEP_LEASE_SECONDS),
        "deadline": now + timedelta(seconds=timeout),
        "progress": 0.0,
        "params": params,
    }
    if not StepExecution.objects.filter(pk=step.pk, status=StepStatus.PENDING).update(
        attempt=F("attempt") + 1, **fields
    ):
        return False
    for name, value in fields.items():
        setattr(step, name, value)
    step.attempt += 1
    return True


def step_timeout(step: StepExecution) -> int:
    return step_timeout_seconds(step.dag_step)


def _wait_for_backoff(step: StepExecution) -> None:
    if step.next_attempt_at:
        wait = (step.next_attempt_at - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, engine.INLINE_BACKOFF_SECONDS))


def run_steps(step_pks: list[int]) -> None:
    """django-q2 task body for a chunk of batchable steps: the first claims as many of the others as it can in
    one statement; any left PENDING (claimed by nobody yet) is then run as ``run_step`` would."""
    if not step_pks:
        return
    run_step(step_pks[0], preferred=list(step_pks[1:]))
    left = StepExecution.objects.filter(pk__in=step_pks[1:], status=StepStatus.PENDING)
    for pk in left.order_by("pk").values_list("pk", flat=True):
        run_step(pk)


def run_step(step_pk: int, *, preferred: list[int] | None = None) -> None:
    """django-q2 task body. Safe to run twice: only the worker that wins the claim executes the action.

    A step whose completion makes another step ready hands that step to the same worker (up to
    ``CONTINUE_SECONDS`` of work per task), so a chain does not pay a queue round trip per hop.
    """
    deadline = time.monotonic() + CONTINUE_SECONDS
    next_pk: int | None = step_pk
    while next_pk is not None:
        slot: list[int] | None = [] if time.monotonic() < deadline else None
        engine.continuation.slot = slot
        try:
            execution_id = _run_one(next_pk, preferred if next_pk == step_pk else None)
        finally:
            engine.continuation.slot = None
        next_pk = slot[0] if slot else None
        if next_pk is None and execution_id is not None and slot is not None and take_queued_steps():
            next_pk = _queued_step(execution_id)


def take_queued_steps() -> bool:
    """Not with django-q2 ``sync``: there every task already runs inline, in submission order, and taking
    a queued step early would reorder it before the tasks queued ahead of it (e.g. a job's)."""
    return not settings.Q_CLUSTER.get("sync")


def _queued_step(execution_id: Any) -> int | None:
    """A step of the same execution already queued but not started: in a wide fan-out the worker takes it
    itself rather than pay a queue round trip per step (its own task then finds it claimed and returns)."""
    now = timezone.now()
    pks = list(
        StepExecution.objects.filter(execution_id=execution_id, status=StepStatus.PENDING, enqueued_at__isnull=False)
        .exclude(next_attempt_at__gt=now)
        .order_by("position")
        .values_list("pk", flat=True)[:8]
    )
    # Random among the first few, so that two workers doing the same rarely race for one claim.
    return random.choice(pks) if pks else None


def _needed_steps(dag_step: dict) -> set[str]:
    return {ref for ref, _ in find_references([dag_step.get("params") or {}, _condition_source(dag_step) or ""])}


def _run_one(step_pk: int, preferred: list[int] | None = None) -> Any:
    """Run one step; returns its execution's id when this worker ran it (None: not PENDING or lost the claim)."""
    step = StepExecution.objects.select_related("execution").defer("execution__dag").filter(pk=step_pk).first()
    if step is None or step.status != StepStatus.PENDING:
        return None
    engine.with_dag(step.execution)
    _wait_for_backoff(step)
    if step.execution.status != ExecutionStatus.RUNNING:
        engine.set_step_final(step.pk, (StepStatus.PENDING,), StepStatus.CANCELLED, error="execution not running")
        return None
    if batching.eligible(step):
        return batching.run(step, keep_leases=leases.keep_many, apply_result=apply_result, preferred=preferred)
    context = render_context(step.execution, _needed_steps(step.dag_step))
    # Rendered before the claim so that claim, resolved params and step_started are one write.
    run, params, error = True, {}, None
    try:
        run = _condition_holds(step, context)
        params = render(step.dag_step.get("params") or {}, context, ("params",)) if run else {}
    except RenderError as exc:
        error = f"could not render {exc}"
    with transaction.atomic():
        if not _claim(step, step_timeout(step), params):
            return None
        if run and error is None:
            execution_events.step_event(step.execution, step.step_id, EventType.STEP_STARTED, StepStatus.RUNNING)
    if error is not None:
        engine.step_failed(step, StepStatus.RUNNING, error, retry=False)
    elif not run:
        engine.step_completed(step, StepStatus.RUNNING, {}, final=StepStatus.SKIPPED)
    else:
        apply_result(step, _execute(step, context))
    return step.execution_id


def _condition_source(dag_step: dict) -> str | None:
    """A condition may be written bare (``steps.a.outputs.ok``) or as ``{{ ... }}``."""
    condition = dag_step.get("condition")
    if not isinstance(condition, str):
        return None
    return condition if "{{" in condition else "{{ " + condition + " }}"


def _condition_holds(step: StepExecution, context: dict) -> bool:
    condition = step.dag_step.get("condition")
    if condition is None or isinstance(condition, bool):
        return condition is not False
    value = render(_condition_source(step.dag_step), context, ("condition",))
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "none")
    return bool(value)


def _execute(step: StepExecution, context: dict) -> ActionResult:
    ctx = ActionContext(
        execution_id=str(step.execution_id),
        step_id=step.step_id,
        params=step.params,
        attempt=step.attempt,
        owner_id=step.execution.owner_id,
        execution_parameters=context["parameters"],
        step_outputs={sid: s["outputs"] for sid, s in context["steps"].items()},
        timeout_seconds=step_timeout(step),
        deployment_id=str(step.execution.deployment_id) if step.execution.deployment_id else None,
    )
    with leases.keep(step.pk):
        return run_action(step.action, ctx)


def apply_result(step: StepExecution, result: ActionResult) -> None:
    if not result.success:
        engine.step_failed(step, StepStatus.RUNNING, result.error or "step failed")
    elif result.awaiting_event and result.external_workflow_id:
        _await_event(step, result)
    else:
        engine.step_completed(step, StepStatus.RUNNING, result.outputs or {})


def _await_event(step: StepExecution, result: ActionResult) -> None:
    # The DAG step's own timeout_seconds wins; the action's (e.g. its job's hour) only stands in for a step
    # that set none, so a step asking for 60 s is not left waiting an hour for a job that never reports.
    timeout = int(step.dag_step.get("timeout_seconds") or result.timeout_seconds or step_timeout(step))
    workflow_id = str(result.external_workflow_id)
    with transaction.atomic():
        updated = StepExecution.objects.filter(pk=step.pk, status=StepStatus.RUNNING).update(
            status=StepStatus.AWAITING_EVENT,
            awaiting_event=True,
            external_workflow_id=workflow_id,
            outputs=result.outputs or {},
            lease_expires_at=None,
            deadline=timezone.now() + timedelta(seconds=timeout),
        )
        if not updated:
            return
        execution_events.step_event(
            step.execution,
            step.step_id,
            EventType.STEP_AWAITING_EVENT,
            StepStatus.AWAITING_EVENT,
            outputs=result.outputs,
        )
    # The job may have finished before this step started waiting: replay what already arrived.
    for event in Event.objects.filter(topic=JOB_EVENTS_TOPIC, workflow_id=workflow_id).order_by("id"):
        route_job_event(event)


def route_job_event(event: Event) -> None:
    """Subscriber of ``budpipelineEvents``: hand the event to the step waiting on its ``workflow_id``."""
    workflow_id = event.workflow_id or str((event.payload or {}).get("workflow_id") or "")
    if not workflow_id:
        return
    # Job progress events are frequent: the DAG comes from the per-process cache, not a re-read per event.
    waiting = (
        StepExecution.objects.select_related("execution")
        .defer("execution__dag")
        .filter(external_workflow_id=workflow_id, status=StepStatus.AWAITING_EVENT)
    )
    for step in waiting:
        engine.with_dag(step.execution)
        handle_step_event(step, event)


def handle_step_event(step: StepExecution, event: Event) -> None:
    action = get_action(step.action)
    ctx = EventContext(
        execution_id=str(step.execution_id),
        step_id=step.step_id,
        params=step.params,
        event_type=event.type,
        event_data=event.payload or {},
        external_workflow_id=step.external_workflow_id,
    )
    try:
        result = action.on_event(ctx) if action else EventResult(EventAction.COMPLETE, "FAILED", error="unknown action")
    except Exception as exc:
        logger.exception("on_event of step %s raised", step.step_id)
        result = EventResult(EventAction.COMPLETE, status=StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    _apply_event_result(step, result)


def _apply_event_result(step: StepExecution, result: EventResult) -> None:
    if result.action == EventAction.UPDATE_PROGRESS and result.progress is not None:
        if StepExecution.objects.filter(
            pk=step.pk, status=StepStatus.AWAITING_EVENT, progress__lt=result.progress
        ).update(progress=result.progress):
            execution_events.progress_event(step.execution)
    elif result.action == EventAction.COMPLETE:
        if (result.status or StepStatus.COMPLETED) == StepStatus.COMPLETED:
            engine.step_completed(step, StepStatus.AWAITING_EVENT, {**step.outputs, **result.outputs})
        else:
            engine.step_failed(step, StepStatus.AWAITING_EVENT, result.error or "step failed")


class LeaseRenewer:
    """One thread per worker process renews the leases of every step this process is running, so the sweep
    does not take a live step for a dead one. A thread started and joined per step cost ~15 % of a no-op step;
    a killed worker still stops renewing (the thread dies with it) and its steps' leases run out."""

    def __init__(self) -> None:
        self.running: dict[int, int] = {}  # step pk → how many of this process's threads run it (normally 1)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = 0

    @contextmanager
    def keep(self, step_pk: int) -> Iterator[None]:
        with self.lock:
            self.running[step_pk] = self.running.get(step_pk, 0) + 1
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                # After a fork the parent's thread does not exist in the child: start this process's own.
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self.thread.start()
        try:
            yield
        finally:
            with self.lock:
                left = self.running.pop(step_pk, 1) - 1
                if left > 0:
                    self.running[step_pk] = left

    @contextmanager
    def keep_many(self, step_pks: list[int]) -> Iterator[None]:
        """``keep`` for the steps of a batch (``pipelines.batching``)."""
        with contextlib.ExitStack() as stack:
            for pk in step_pks:
                stack.enter_context(self.keep(pk))
            yield

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            # Short ticks: the lease setting is read each time (tests change it), the thread stays cheap.
            time.sleep(0.25)
            lease = settings.PIPELINE_STEP_LEASE_SECONDS
            if time.monotonic() - last < max(lease / 3, 0.5):
                continue
            last = time.monotonic()
            with self.lock:
                pks = list(self.running)
            if not pks:
                continue
            try:
                for start in range(0, len(pks), 500):  # SQLite's variable limit
                    StepExecution.objects.filter(pk__in=pks[start : start + 500], status=StepStatus.RUNNING).update(
                        lease_expires_at=timezone.now() + timedelta(seconds=lease)
                    )
            except Exception:
                logger.exception("lease renewal of steps %s failed", pks[:10])
                connection.close()  # a broken connection is replaced on the next round


leases = LeaseRenewer()
