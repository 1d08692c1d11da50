"""The scheduler: which steps may run now, and what happens when a step or an execution finishes.

``advance`` is called after every step transition. It enqueues each PENDING step whose dependencies are all
COMPLETED/SKIPPED (independent steps therefore run in parallel, up to ``settings.max_parallel_steps``),
cancels steps that can no longer run, and finishes the execution when every step is final. It locks the
execution row, so two workers advancing the same execution cannot enqueue a step twice or overshoot the limit.
A chain hop (one dependent made ready, nothing held back) skips that lock: ``_hop_targets`` says why it is safe.

Every transaction here that changes an execution and its steps locks the execution row first (the lock order
in ``pipelines.models``) and is retried when PostgreSQL still picks it as a deadlock victim.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pipelines import execution_events, fairness, queueing
from pipelines.actions.base import ActionContext
from pipelines.actions.registry import get_action
from pipelines.batchable import QuickSteps, batchable
from pipelines.context import render_context
from pipelines.events import EventType
from pipelines.locking import retry_on_deadlock
from pipelines.models import (
    EXECUTION_ACTIVE,
    STEP_ACTIVE,
    STEP_BAD,
    STEP_DONE_OK,
    STEP_FINISHED,
    ExecutionStatus,
    PipelineExecution,
    StepExecution,
    StepStatus,
)
from pipelines.params import RenderError, render

logger = logging.getLogger(__name__)

# Batchable steps queued at once go to the broker as one task per this many (``pipelines.batching`` claims as many).
BATCH_SIZE = 50
# A retry whose backoff is at most this long is waited for by the worker; longer ones are left to the sweep.
INLINE_BACKOFF_SECONDS = 30.0


class _Continuation(threading.local):
    # Set by ``runner.run_step`` to an empty list while a worker runs a step: the first step that becomes
    # ready is put there and run next by the same worker instead of going through the queue.
    slot: list[int] | None = None


continuation = _Continuation()


def enqueue_step(step_pk: int) -> None:
    """Queue ``run_step`` after the current transaction commits (inline in tests with ``sync: True``)."""
    transaction.on_commit(lambda: _dispatch(step_pk))


def enqueue_steps(step_pks: list[int]) -> None:
    """Queue several steps after commit with one broker write (a fan-out's ready steps)."""
    transaction.on_commit(lambda: _dispatch_many(step_pks))


def _dispatch(step_pk: int) -> None:
    _dispatch_many([step_pk])


def _dispatch_many(step_pks: list[int]) -> None:
    slot = continuation.slot
    chunk = BATCH_SIZE if isinstance(step_pks, QuickSteps) else 1  # batchable steps: one task per chunk
    if slot is not None and not slot and step_pks:
        slot.append(step_pks[0])
        step_pks = step_pks[1:]
    queueing.dispatch_steps(step_pks, chunk=chunk)


def start(execution: PipelineExecution) -> bool:
    now = timezone.now()
    timeout = execution.settings.get("timeout_seconds")
    updated = PipelineExecution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
        status=ExecutionStatus.RUNNING,
        started_at=now,
        deadline=now + timedelta(seconds=timeout) if timeout else None,
    )
    if updated:
        advance(execution.pk)
    return bool(updated)


def _failure_policy(step: StepExecution) -> str:
    return step.dag_step.get("on_failure") or step.execution.settings.get("on_failure") or "fail"


def lock_execution(execution_id: Any) -> PipelineExecution | None:
    """The first lock of every engine transaction (see the lock order in ``pipelines.models``).

    ``FOR NO KEY UPDATE``: it does not block the ``FOR KEY SHARE`` lock that inserting an event or step row
    takes on its execution (foreign-key check), so a worker recording a step never waits for a cancel here.
    """
    return PipelineExecution.objects.select_for_update(no_key=True).defer("dag").filter(pk=execution_id).first()


@retry_on_deadlock()
def advance(
    execution_id: Any, *, completed: str | None = None, locked: PipelineExecution | None = None, freed: int = 0
) -> int:
    """Queue what can run now, cancel what never can, finish the execution when every step is final.

    Only PENDING, not-yet-queued steps and the statuses of their dependencies are read, so a step finishing
    in a wide DAG costs a few small queries rather than a scan of every step. ``completed``: the step that
    just completed; only its dependents can have become ready (unless ``max_parallel_steps`` held others
    back), so in a long chain a hop reads one candidate, not every PENDING step. ``locked``: the execution
    when the caller already holds its row lock. ``freed``: worker slots of the owner the caller just released
    (a RUNNING step finished); that many steps replace them without counting the owner's busy steps.
    Returns how many steps it queued.
    """
    execution = locked or lock_execution(execution_id)
    if execution is None or execution.status != ExecutionStatus.RUNNING:
        return 0
    with_dag(execution)
    steps = StepExecution.objects.filter(execution_id=execution_id)
    pending = steps.filter(status=StepStatus.PENDING, enqueued_at=None)
    # Steps held back (max_parallel_steps, the per-user limit) may be ready whatever just completed.
    full_scan = completed is None or execution.held_steps or execution.settings.get("max_parallel_steps") is not None
    if not full_scan:
        pending = pending.filter(step_id__in=_dependents(execution).get(completed, ()))
    candidates, status = _read_candidates(execution, steps, pending, paged=full_scan)
    enqueued = 0
    if candidates:
        enqueued = _enqueue_ready(execution, steps, candidates, status, full_scan=full_scan, freed=freed)
    elif full_scan and execution.held_steps:
        _set_held(execution, False)
    # A step just queued is not final: no need to look for unfinished steps.
    if not enqueued and not steps.exclude(status__in=STEP_FINISHED).exists():
        finish(execution, dict(steps.values_list("step_id", "status")))
    return enqueued


_DAGS: dict[Any, dict] = {}  # execution pk → its DAG (read-only; never changes after submit)


def with_dag(execution: PipelineExecution) -> PipelineExecution:
    """Give an execution loaded with ``defer("dag")`` its DAG from a per-process cache: a worker running the
    steps of a 5,000-step DAG must not read and parse the whole DAG twice per step."""
    dag = _DAGS.get(execution.pk)
    if dag is None:
        dag = execution.dag  # loads the deferred field
        if len(_DAGS) >= 64:
            _DAGS.clear()
        _DAGS[execution.pk] = dag
    else:
        execution.dag = dag
    return execution


_DEPENDENTS: dict[Any, dict[str, list[str]]] = {}  # execution pk → step id → ids of the steps depending on it


def _dependents(execution: PipelineExecution) -> dict[str, list[str]]:
    """From the DAG, which never changes after submit: cached per process."""
    dependents = _DEPENDENTS.get(execution.pk)
    if dependents is None:
        dependents = {}
        for dag_step in execution.dag.get("steps", []):
            for dependency in dag_step.get("depends_on") or []:
                dependents.setdefault(dependency, []).append(dag_step["id"])
        if len(_DEPENDENTS) >= 256:
            _DEPENDENTS.clear()
        _DEPENDENTS[execution.pk] = dependents
    return dependents


def dependents_of(execution: PipelineExecution, step_id: str) -> list[str]:
    return list(_dependents(execution).get(step_id, ()))


_POSITIONS: dict[Any, dict[str, int]] = {}  # execution pk → step id → position in the DAG


def dag_positions(execution: PipelineExecution) -> dict[str, int]:
    """Step id → position, from the DAG (cached per process like ``_dependents``)."""
    positions = _POSITIONS.get(execution.pk)
    if positions is None:
        positions = {dag_step["id"]: i for i, dag_step in enumerate(execution.dag.get("steps", []))}
        if len(_POSITIONS) >= 256:
            _POSITIONS.clear()
        _POSITIONS[execution.pk] = positions
    return positions


FIELDS = ("pk", "step_id", "position", "depends_on", "next_attempt_at")


def _read_candidates(execution: PipelineExecution, steps, pending, *, paged: bool) -> tuple[list[dict], dict[str, str]]:
    """The PENDING, not-yet-queued steps to consider, with the statuses of them and their dependencies;
    unreachable ones are cancelled on the way.

    Under a cap (``max_parallel_steps``, the per-user limit) a full scan reads pages in position order and
    stops once it has more ready steps than the cap could ever queue: with 2 worker slots, each completion
    in a 10,000-step fan-out reads a few dozen rows, not every PENDING step (quadratic in the fan-out). Steps
    in unread pages are reached by a later advance, when fewer ready steps are in front of them.
    """
    caps = [c for c in (execution.settings.get("max_parallel_steps"), fairness.user_limit()) if c]
    if not paged or not caps:
        candidates = list(pending.order_by("position").values(*FIELDS))
        status = _dependency_statuses(steps, candidates) if candidates else {}
        if candidates:
            _cancel_unreachable(execution, candidates, status)
        return candidates, status
    cap = min(caps)
    page_size = 4 * cap + 28
    now = timezone.now()
    candidates, status, ready, last = [], {}, 0, None
    while ready <= cap:
        page_rows = pending.filter(position__gt=last) if last is not None else pending
        page = list(page_rows.order_by("position").values(*FIELDS)[:page_size])
        if not page:
            break
        page_status = _dependency_statuses(steps, page)
        _cancel_unreachable(execution, page, page_status)
        status.update(page_status)
        candidates += page
        ready += sum(1 for row in page if _is_ready(row, status, now))
        last = page[-1]["position"]
        if len(page) < page_size:
            break
    return candidates, status


def _is_ready(row: dict, status: dict[str, str], now: Any) -> bool:
    if status[row["step_id"]] != StepStatus.PENDING:
        return False
    if row["next_attempt_at"] and row["next_attempt_at"] > now:
        return False
    return all(status.get(d) in STEP_DONE_OK for d in row["depends_on"])


def _dependency_statuses(steps, candidates: list[dict]) -> dict[str, str]:
    wanted = {d for c in candidates for d in c["depends_on"]} | {c["step_id"] for c in candidates}
    # Large IN lists hit SQLite's variable limit; past a few hundred, reading every status is cheaper anyway.
    rows = steps.filter(step_id__in=wanted) if len(wanted) <= 500 else steps
    return dict(rows.order_by().values_list("step_id", "status"))  # order_by(): no JOIN for Meta.ordering


def _cancel_unreachable(execution: PipelineExecution, candidates: list[dict], status: dict[str, str]) -> None:
    """PENDING steps behind a failed/cancelled dependency can never run (on_failure: continue)."""
    changed = True
    while changed:
        changed = False
        for row in candidates:
            if status[row["step_id"]] != StepStatus.PENDING:
                continue
            bad = next((d for d in row["depends_on"] if status.get(d) in STEP_BAD), None)
            if bad is None:
                continue
            error = f"not run: dependency {bad!r} is {status[bad]}"
            if set_step_final(row["pk"], (StepStatus.PENDING,), StepStatus.CANCELLED, error=error):
                execution_events.step_event(
                    execution, row["step_id"], EventType.STEP_FAILED, StepStatus.CANCELLED, error=error
                )
            status[row["step_id"]] = StepStatus.CANCELLED
            changed = True


def _set_held(execution: PipelineExecution, held: bool) -> None:
    PipelineExecution.objects.filter(pk=execution.pk).update(held_steps=held)
    execution.held_steps = held


def _enqueue_ready(
    execution: PipelineExecution,
    steps,
    candidates: list[dict],
    status: dict[str, str],
    *,
    full_scan: bool = True,
    freed: int = 0,
) -> int:
    """Mark every ready candidate queued (one compare-and-set UPDATE for all) and queue them; returns how many.

    At most ``max_parallel_steps`` of the execution and the owner's per-user limit (``pipelines.fairness``);
    ready steps over the user's limit stay PENDING and the execution is flagged ``held_steps``."""
    now = timezone.now()
    limit = execution.settings.get("max_parallel_steps")
    active = 0
    if limit is not None:
        active = steps.filter(
            Q(status__in=STEP_ACTIVE) | Q(status=StepStatus.PENDING, enqueued_at__isnull=False)
        ).count()
    ready = []
    for row in candidates:
        if limit is not None and active + len(ready) >= limit:
            break
        if _is_ready(row, status, now):
            ready.append(row["pk"])
    # A step taking the worker slot its predecessor just left cannot push the owner over the limit: a chain
    # hop needs no count.
    # Held steps mean the owner was at the limit: the slots just freed are the room, without a count (a
    # slot freed elsewhere meanwhile wakes a held execution itself, and the sweep is the backstop).
    if len(ready) <= freed or (freed and execution.held_steps):
        room = min(len(ready), freed)
    else:
        room = fairness.room_for(execution.owner_id, len(ready))
    held = room < len(ready)
    if held != execution.held_steps and (held or full_scan):
        _set_held(execution, held)
    ready = ready[:room]
    if not ready:
        return 0
    queued = 0
    positions = {row["pk"]: row["position"] for row in candidates}
    dag_steps = execution.dag["steps"]
    for start in range(0, len(ready), 500):  # SQLite's variable limit
        chunk = ready[start : start + 500]
        claimed = StepExecution.objects.filter(pk__in=chunk, status=StepStatus.PENDING, enqueued_at=None)
        if claimed.update(enqueued_at=now) != len(chunk):
            # Someone else changed some of them meanwhile: queue only the rows this UPDATE marked.
            marked = set(StepExecution.objects.filter(pk__in=chunk, enqueued_at=now).values_list("pk", flat=True))
            chunk = [pk for pk in chunk if pk in marked]
        quick = QuickSteps(pk for pk in chunk if batchable(dag_steps[positions[pk]]))
        if quick:
            enqueue_steps(quick)
        if len(quick) < len(chunk):
            enqueue_steps([pk for pk in chunk if pk not in set(quick)])
        queued += len(chunk)
    return queued


def set_step_final(pk: int, from_statuses: tuple, to: str, **fields: Any) -> bool:
    now = timezone.now()
    fields.setdefault("completed_at", now)
    return bool(
        StepExecution.objects.filter(pk=pk, status__in=from_statuses).update(
            status=to, lease_expires_at=None, awaiting_event=False, **fields
        )
    )


def finish(execution: PipelineExecution, status: dict[str, str]) -> None:
    """All steps are final: COMPLETED unless a step FAILED or timed out; outputs rendered from the DAG."""
    failed = sorted(sid for sid, st in status.items() if st in (StepStatus.FAILED, StepStatus.TIMEOUT))
    outputs, error = _render_outputs(execution)
    if failed:
        final, error = ExecutionStatus.FAILED, f"step(s) failed: {', '.join(failed)}"
    else:
        final = ExecutionStatus.FAILED if error else ExecutionStatus.COMPLETED
    _finish_execution(execution, final, error, outputs)


def _render_outputs(execution: PipelineExecution) -> tuple[dict, str]:
    spec = execution.dag.get("outputs") or {}
    if not isinstance(spec, dict) or not spec:
        return {}, ""
    try:
        return render(spec, render_context(execution, None)), ""
    except RenderError as exc:
        return {}, f"outputs.{exc}"


def _finish_execution(execution: PipelineExecution, final: str, error: str, outputs: dict | None = None) -> bool:
    updated = PipelineExecution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE).update(
        status=final,
        error=error,
        outputs=outputs or {},
        completed_at=timezone.now(),
        **({"progress": 100.0} if final == ExecutionStatus.COMPLETED else {}),
    )
    if updated:
        execution.refresh_from_db()
        execution_events.execution_event(execution)
    return bool(updated)


@retry_on_deadlock()
def stop_execution(execution: PipelineExecution, final: str, error: str) -> bool:
    """End an active execution as FAILED / CANCELLED / TIMEOUT and cancel every step not yet final.

    The execution is locked first, then its open steps in primary-key order: a step that a worker claims
    meanwhile is either claimed before (and cancelled here as RUNNING) or finds itself CANCELLED.
    """
    execution = PipelineExecution.objects.select_for_update(no_key=True).get(pk=execution.pk)
    if execution.status not in EXECUTION_ACTIVE:
        return False
    cancelled = cancel_open_steps(execution, reason=f"execution {final.lower()}")
    _finish_execution(execution, final, error)
    for step in cancelled:
        transaction.on_commit(lambda step=step: call_action_cancel(step))
    wake_held(execution.owner_id, exclude=execution.pk, count=fairness.WAKE_AT_MOST)  # its slots came free
    return True


OPEN_STEP_STATUSES = (StepStatus.PENDING, *STEP_ACTIVE)


def cancel_open_steps(execution: PipelineExecution, reason: str) -> list[StepExecution]:
    """CANCELLED for every PENDING/RUNNING/AWAITING_EVENT step; returns the active ones (their action cancels).

    Call with the execution row locked. The open steps are locked (in primary-key order) before they are
    changed, so the statuses read are the ones the UPDATE changes: a row read as PENDING but claimed in between
    would otherwise be skipped and left RUNNING in a cancelled execution.
    """
    open_steps = list(
        StepExecution.objects.select_for_update(no_key=True)
        .filter(execution=execution, status__in=OPEN_STEP_STATUSES)
        .order_by("pk")
        .only("pk", "execution_id", "step_id", "action", "status", "params", "attempt", "external_workflow_id")
    )
    now = timezone.now()
    for start in range(0, len(open_steps), 500):  # SQLite's variable limit
        chunk = [step.pk for step in open_steps[start : start + 500]]
        StepExecution.objects.filter(pk__in=chunk).update(
            status=StepStatus.CANCELLED, error=reason, completed_at=now, lease_expires_at=None, awaiting_event=False
        )
    for step in open_steps:
        execution_events.step_event(execution, step.step_id, EventType.STEP_FAILED, StepStatus.CANCELLED, error=reason)
    return [step for step in open_steps if step.status in STEP_ACTIVE]


def call_action_cancel(step: StepExecution) -> None:
    action = get_action(step.action)
    if action is None:
        return
    ctx = ActionContext(
        execution_id=str(step.execution_id),
        step_id=step.step_id,
        params=step.params,
        attempt=step.attempt,
        external_workflow_id=step.external_workflow_id or None,
    )
    try:
        action.cancel(ctx)
    except Exception:  # cancel is best effort; the step is already CANCELLED
        logger.exception("cancel of step %s (%s) failed", step.step_id, step.action)


@retry_on_deadlock()
def step_failed(
    step: StepExecution, from_status: str, error: str, *, final: str = StepStatus.FAILED, retry: bool = True
) -> bool:
    """A step attempt failed: retry with exponential backoff, or make it final and apply ``on_failure``."""
    locked = lock_execution(step.execution_id)  # the execution before the step: the lock order
    retryable = retry and final == StepStatus.FAILED and step.attempt < step.max_attempts
    if retryable and _schedule_retry(step, from_status, error):
        return True
    if not set_step_final(step.pk, (from_status,), final, error=error):
        return False
    execution = step.execution
    execution_events.step_event(execution, step.step_id, EventType.STEP_FAILED, final, error=error)
    freed = int(from_status == StepStatus.RUNNING)
    if _failure_policy(step) == "fail":
        stop_execution(execution, ExecutionStatus.FAILED, f"step {step.step_id!r} {final}: {error}")
    elif not advance(execution.pk, locked=locked, freed=freed) and freed:
        wake_held(execution.owner_id, exclude=execution.pk)
    return True


def _schedule_retry(step: StepExecution, from_status: str, error: str) -> bool:
    retry = step.dag_step.get("retry") or {}
    delay = float(retry.get("backoff_seconds", 0)) * (2 ** max(step.attempt - 1, 0))
    now = timezone.now()
    inline = delay <= INLINE_BACKOFF_SECONDS
    updated = StepExecution.objects.filter(pk=step.pk, status=from_status).update(
        status=StepStatus.PENDING,
        error=error,
        lease_expires_at=None,
        awaiting_event=False,
        next_attempt_at=now + timedelta(seconds=delay),
        enqueued_at=now if inline else None,
    )
    if updated:
        execution_events.step_event(
            step.execution, step.step_id, EventType.STEP_RETRYING, StepStatus.PENDING, error=error
        )
        if inline:
            enqueue_step(step.pk)
    return bool(updated)


@retry_on_deadlock()
def step_completed(step: StepExecution, from_status: str, outputs: dict, *, final: str = StepStatus.COMPLETED) -> bool:
    hop = _hop_targets(step) if from_status == StepStatus.RUNNING else None
    # A chain hop skips the execution lock (see ``_hop_targets``); anything else locks it first: the lock order.
    locked = None if hop else lock_execution(step.execution_id)
    if not set_step_final(step.pk, (from_status,), final, outputs=outputs, progress=100.0, error=""):
        return False
    execution_events.step_event(step.execution, step.step_id, EventType.STEP_COMPLETED, final, outputs=outputs)
    execution_events.progress_event(step.execution)
    if hop:
        _mark_queued(hop)
        return True
    freed = int(from_status == StepStatus.RUNNING)
    if not advance(step.execution_id, completed=step.step_id, locked=locked, freed=freed) and freed:
        wake_held(step.execution.owner_id, exclude=step.execution_id)
    return True


def _hop_targets(step: StepExecution) -> list[int] | None:
    """The dependents a chain hop queues without locking the execution row, or None for the locked path.

    Only when this step's completion makes every one of its not-yet-queued PENDING dependents ready, each
    with a higher primary key (so the hop locks step rows in primary-key order, as cancel does, and never the
    execution), and nothing else needs the execution lock: no ``max_parallel_steps`` count, no held-back steps
    of the owner, the execution RUNNING when the step was loaded, at most one dependent (the worker slot this
    step frees; more would need the per-user count). The execution cannot finish here (a dependent is queued),
    and a concurrent cancel either runs first (the completion's compare-and-set then fails) or finds the
    queued dependent PENDING and cancels it. Dependencies that were not yet done when read go the locked way:
    two parents of one join completing at once are serialised by the execution lock, never both skipped.
    """
    execution = step.execution
    if (
        execution.status != ExecutionStatus.RUNNING
        or execution.held_steps
        or execution.settings.get("max_parallel_steps") is not None
    ):
        return None
    dependents = _dependents(execution).get(step.step_id)
    if not dependents or len(dependents) > 1:
        return None
    rows = list(
        StepExecution.objects.filter(execution_id=step.execution_id, step_id__in=dependents)
        .order_by()
        .values("pk", "status", "enqueued_at", "depends_on", "next_attempt_at")
    )
    now = timezone.now()
    ready = []
    others: set[str] = set()
    for row in rows:
        if row["status"] != StepStatus.PENDING or row["enqueued_at"] is not None:
            continue  # already queued, running or final: nothing to do for it
        if row["pk"] < step.pk or (row["next_attempt_at"] and row["next_attempt_at"] > now):
            return None
        others.update(d for d in row["depends_on"] if d != step.step_id)
        ready.append(row["pk"])
    if not ready:
        return None
    if others:
        done = StepExecution.objects.filter(
            execution_id=step.execution_id, step_id__in=others, status__in=STEP_DONE_OK
        ).count()
        if done != len(others):
            return None
    return ready


def _mark_queued(pks: list[int]) -> None:
    """Compare-and-set the hop's dependent (one, see ``_hop_targets``) queued and queue it after commit."""
    updated = StepExecution.objects.filter(pk__in=pks, status=StepStatus.PENDING, enqueued_at=None).update(
        enqueued_at=timezone.now()
    )
    if updated == len(pks):
        enqueue_steps(pks)


def wake_held(owner_id: Any, *, exclude: Any = None, count: int = 1) -> None:
    """A worker slot of this user came free and its own execution did not use it: after commit, advance the
    user's oldest executions with held-back steps, each in a transaction of its own (one execution lock per
    transaction: the lock order)."""
    pks = fairness.held_executions(owner_id, exclude=exclude, count=count)
    if pks:
        transaction.on_commit(lambda: [advance(pk) for pk in pks])
