"""Quick steps run in batches (issue 16): one worker claims, runs and records many no-I/O steps at once.

A broker task per step caps throughput at what django-q2 itself does (~940 tasks/s on a quiet machine) and a
per-step claim, completion and advance cost ~15 statements. A step is *batchable* when its action says so
(``ActionMeta.batchable``: in-process, microseconds, no external I/O), its params hold no Jinja (nothing to
render, so no render-pool round trip and no step outputs to read) and it has no condition. For such steps a
worker:

1. claims up to ``BATCH_SIZE`` ready PENDING batchable steps of the execution in ONE compare-and-set UPDATE
   (PENDING → RUNNING, attempt + 1, a lease; on PostgreSQL through ``FOR NO KEY UPDATE SKIP LOCKED``, so two
   workers claiming at once take different rows instead of queueing behind each other) and inserts their
   ``step_started`` events with one multi-row INSERT, in one transaction;
2. runs them (the worker's one lease renewer keeps all their leases while they run);
3. records every success in one transaction: the execution row locked first (the lock order), one
   compare-and-set UPDATE RUNNING → COMPLETED (a step cancelled meanwhile is not completed, and gets no
   event), one INSERT of the ``step_completed`` events, one ``advance``. A failure goes the one-step way
   (``engine.step_failed``: retries, ``on_failure``).

A chain hop (one step done, its one dependent batchable and made ready by it alone) is one transaction with
no read: complete step i, claim step i + 1 by (execution, step id), insert both events, commit; the worker
then runs i + 1 itself. Like ``engine._hop_targets`` it does not lock the execution row and locks the two
step rows in primary-key order (position order: steps are inserted in DAG order).

Limits: ``max_parallel_steps`` is honoured exactly, by taking only steps ``advance`` already queued (it
admitted them under the limit). The per-user limit (``pipelines.fairness``) caps the *workers* a user holds:
a batch runs in the one worker that claimed it, in the slot of the queued step it was started for, so it may
also take ready steps that the limit held back (they never needed a worker of their own); other executions of
the user see its steps RUNNING and wait for the batch to end (milliseconds), as for any busy step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from pipelines import engine, execution_events
from pipelines.actions.base import ActionContext, ActionResult
from pipelines.actions.registry import run_action, step_timeout_seconds
from pipelines.batchable import batchable, batchable_types
from pipelines.events import EventType, subscribers, wake
from pipelines.execution_events import StepEvent
from pipelines.locking import retry_on_deadlock
from pipelines.logcontext import bind_log_context
from pipelines.models import STEP_DONE_OK, Event, ExecutionStatus, PipelineExecution, StepExecution, StepStatus

BATCH_SIZE = engine.BATCH_SIZE
# How long one batch run may keep hopping down a chain (as ``runner.CONTINUE_SECONDS``).
CONTINUE_SECONDS = 60.0


KeepLeases = Callable[[list[int]], AbstractContextManager[None]]
ApplyResult = Callable[[StepExecution, ActionResult], None]


@dataclass
class Claimed:
    pk: int
    step_id: str
    position: int
    attempt: int
    queued: bool  # it held a queue slot (enqueued_at set): counts as a freed worker slot when it ends
    params: dict


def eligible(step: StepExecution) -> bool:
    """The step a worker was handed may start a batch (its execution is RUNNING; no backoff to wait for)."""
    if step.next_attempt_at and step.next_attempt_at > timezone.now():
        return False
    return step.execution.status == ExecutionStatus.RUNNING and batchable(step.dag_step)


def run(
    step: StepExecution, *, keep_leases: KeepLeases, apply_result: ApplyResult, preferred: list[int] | None = None
) -> Any:
    """Claim a batch around ``step``, run it and record it; then follow a chain while hops are possible.
    Returns the execution's id when this worker ran something (None: it lost every claim).

    ``keep_leases``: the worker's lease renewer; ``apply_result``: the one-step recording of a failure (both
    from ``pipelines.runner``, which calls this); ``preferred``: the other steps of the task's chunk, claimed
    first."""
    execution = step.execution
    deadline = time.monotonic() + CONTINUE_SECONDS
    claimed = _claim_batch(execution, step, preferred)
    if not claimed:
        return None
    while claimed:
        with keep_leases([c.pk for c in claimed]):
            results = _execute(execution, claimed)
        claimed = _record(execution, results, hop=time.monotonic() < deadline, apply_result=apply_result)
    return execution.pk


# --- claiming -----------------------------------------------------------------------------------------------


def _claim_batch(
    execution: PipelineExecution, first: StepExecution, preferred: list[int] | None = None
) -> list[Claimed]:
    now = timezone.now()
    dag_steps = execution.dag["steps"]
    timeout = step_timeout_seconds(first.dag_step)
    rows = StepExecution.objects.filter(
        execution_id=execution.pk, status=StepStatus.PENDING, action__in=batchable_types()
    ).exclude(pk=first.pk)
    rows = rows.exclude(next_attempt_at__gt=now)
    if execution.settings.get("max_parallel_steps") is not None:
        rows = rows.filter(enqueued_at__isnull=False)  # only what advance admitted under the limit
    if preferred:
        rows = rows.filter(pk__in=preferred[: 4 * BATCH_SIZE])  # the task's chunk: queued, so ready
    page = list(rows.order_by("position").values_list("pk", "position", "depends_on", "enqueued_at")[: 4 * BATCH_SIZE])
    # A queued step was ready when it was queued; an unqueued one is ready when its dependencies are done.
    waiting = {d for _, _, deps, queued in page if queued is None for d in deps}
    done: set[str] = set()
    if waiting and len(waiting) <= 500:  # SQLite's variable limit; a bigger join waits for advance
        done = set(
            StepExecution.objects.filter(execution_id=execution.pk, step_id__in=waiting, status__in=STEP_DONE_OK)
            .order_by()
            .values_list("step_id", flat=True)
        )
    others = [
        pk
        for pk, position, deps, queued in page
        if (queued is not None or all(d in done for d in deps))
        and batchable(dag_steps[position])
        and step_timeout_seconds(dag_steps[position]) == timeout
    ]
    if len(others) > BATCH_SIZE - 1:
        # A random window of the page: two workers claiming at once rarely reach for the same rows.
        start = random.randrange(len(others) - (BATCH_SIZE - 1) + 1)
        others = others[start : start + BATCH_SIZE - 1]
    positions = {pk: position for pk, position, _, _ in page}
    positions[first.pk] = first.position
    pks = [first.pk, *others]
    params = {pk: dag_steps[positions[pk]].get("params") or {} for pk in pks}
    with transaction.atomic():
        got = _claim_rows(pks, params, timeout)
        claimed = [
            Claimed(pk, dag_steps[positions[pk]]["id"], positions[pk], attempt, queued, params[pk])
            for pk, (attempt, queued) in sorted(got.items(), key=lambda item: positions[item[0]])
        ]
        execution_events.step_events(
            execution, [(c.step_id, EventType.STEP_STARTED, StepStatus.RUNNING, None, None) for c in claimed]
        )
    return claimed


def _table() -> str:
    return connection.ops.quote_name(StepExecution._meta.db_table)


def _json(value: Any) -> Any:
    return StepExecution._meta.get_field("params").get_db_prep_save(value, connection)


def _dt(value: Any) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _running_fields(timeout: int) -> tuple[str, list[Any]]:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PIPELINE_STEP_LEASE_SECONDS)
    sql = (
        "status = %s, attempt = attempt + 1, started_at = %s, completed_at = NULL, lease_expires_at = %s, "
        "deadline = %s, progress = 0"
    )
    return sql, [StepStatus.RUNNING.value, _dt(now), _dt(lease), _dt(now + timedelta(seconds=timeout))]


def _claim_rows(pks: list[int], params: dict[int, dict], timeout: int) -> dict[int, tuple[int, bool]]:
    """Compare-and-set PENDING → RUNNING for ``pks`` in one statement; pk → (attempt, was queued) of those won."""
    placeholders = ", ".join(["%s"] * len(pks))
    running, args = _running_fields(timeout)
    case = "CASE id " + " ".join(["WHEN %s THEN %s"] * len(pks)) + " END"
    args += [x for pk in pks for x in (pk, _json(params[pk]))]
    if connection.vendor == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for (and never double-claimed:
        # the status check below runs on the locked, current row).
        where = (
            f"id IN (SELECT id FROM {_table()} WHERE id IN ({placeholders}) AND status = %s "
            "ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)"
        )
        args += [*pks, StepStatus.PENDING.value]
    else:
        where = f"id IN ({placeholders})"
        args += pks
    sql = (
        f"UPDATE {_table()} SET {running}, params = {case} WHERE {where} AND status = %s "
        "RETURNING id, attempt, enqueued_at"
    )
    args.append(StepStatus.PENDING.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return {pk: (attempt, enqueued is not None) for pk, attempt, enqueued in cursor.fetchall()}


# --- running ------------------------------------------------------------------------------------------------


def _execute(execution: PipelineExecution, claimed: list[Claimed]) -> list[tuple[Claimed, ActionResult]]:
    dag_steps = execution.dag["steps"]
    results = []
    for c in claimed:
        dag_step = dag_steps[c.position]
        ctx = ActionContext(
            execution_id=str(execution.pk),
            step_id=c.step_id,
            params=c.params,
            attempt=c.attempt,
            owner_id=execution.owner_id,
            execution_parameters=execution.parameters,
            timeout_seconds=step_timeout_seconds(dag_step),
            deployment_id=str(execution.deployment_id) if execution.deployment_id else None,
        )
        # Each step's log lines carry its own ids, as on the one-step path (its step_started publish binds them).
        bind_log_context(
            execution_id=execution.pk, step_id=c.step_id, step_pk=c.pk, deployment_id=execution.deployment_id
        )
        results.append((c, run_action(dag_step["action"], ctx)))
    return results


# --- recording ----------------------------------------------------------------------------------------------


def _record(
    execution: PipelineExecution,
    results: list[tuple[Claimed, ActionResult]],
    *,
    hop: bool,
    apply_result: ApplyResult,
) -> list[Claimed]:
    """Record the results; returns the next chain step when a hop claimed it for this worker."""
    ok = [(c, r) for c, r in results if r.success and not r.awaiting_event]
    rest = [(c, r) for c, r in results if not (r.success and not r.awaiting_event)]
    following: list[Claimed] = []
    if ok:
        target = _hop_target(execution, ok[0][0]) if hop and len(results) == 1 else None
        if target is not None:
            following = _complete_and_claim(execution, ok[0], target)
        else:
            _complete_batch(execution, ok)
    for c, result in rest:  # failures: retries and on_failure, one step at a time (rare)
        step = StepExecution.objects.get(pk=c.pk)
        step.execution = execution
        apply_result(step, result)
    return following


def _complete_rows(outputs: dict[int, dict]) -> list[int]:
    """Compare-and-set RUNNING → COMPLETED with each step's outputs in one statement; returns the pks changed."""
    pks = list(outputs)
    placeholders = ", ".join(["%s"] * len(pks))
    case = "CASE id " + " ".join(["WHEN %s THEN %s"] * len(pks)) + " END"
    sql = (
        f"UPDATE {_table()} SET status = %s, completed_at = %s, outputs = {case}, progress = 100.0, error = '', "
        f"lease_expires_at = NULL, awaiting_event = %s WHERE id IN ({placeholders}) AND status = %s RETURNING id"
    )
    args: list[Any] = [StepStatus.COMPLETED.value, _dt(timezone.now())]
    args += [x for pk in pks for x in (pk, _json(outputs[pk]))]
    args += [False, *pks, StepStatus.RUNNING.value]
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return [row[0] for row in cursor.fetchall()]


@retry_on_deadlock()
def _complete_batch(execution: PipelineExecution, ok: list[tuple[Claimed, ActionResult]]) -> None:
    locked = engine.lock_execution(execution.pk)  # the execution before its steps: the lock order
    if locked is None:
        return
    outputs = {c.pk: r.outputs or {} for c, r in ok}
    changed = set()
    for start in range(0, len(ok), 200):  # SQLite's variable limit (4 per step)
        changed.update(_complete_rows(dict(list(outputs.items())[start : start + 200])))
    done = [c for c, _ in ok if c.pk in changed]
    if not done:
        return  # cancelled meanwhile: the cancel recorded them
    execution_events.step_events(
        execution,
        [(c.step_id, EventType.STEP_COMPLETED, StepStatus.COMPLETED, outputs[c.pk], None) for c in done],
    )
    execution_events.progress_event(execution)
    # The queue slots its queued steps held; held-back steps it took never had one.
    freed = sum(1 for c in done if c.queued)
    if not engine.advance(execution.pk, locked=locked, freed=freed) and freed:
        engine.wake_held(execution.owner_id, exclude=execution.pk)


def _hop_target(execution: PipelineExecution, done: Claimed) -> dict | None:
    """The one dependent a chain hop claims directly (see the module docstring), or None for the batch path."""
    if (
        execution.status != ExecutionStatus.RUNNING
        or execution.held_steps
        or execution.settings.get("max_parallel_steps") is not None
    ):
        return None
    dependents = engine.dependents_of(execution, done.step_id)
    if len(dependents) != 1:
        return None
    by_id = engine.dag_positions(execution)
    position = by_id.get(dependents[0])
    if position is None or position <= done.position:
        return None
    dag_step = execution.dag["steps"][position]
    if list(dag_step.get("depends_on") or []) != [done.step_id] or not batchable(dag_step):
        return None
    return {"position": position, **dag_step}


def _complete_and_claim(
    execution: PipelineExecution, result: tuple[Claimed, ActionResult], target: dict
) -> list[Claimed]:
    """Complete ``result``'s step and claim its dependent in one transaction (no read, no execution lock)."""
    done, outcome = result
    outputs = outcome.outputs or {}
    if connection.vendor == "postgresql" and not any(
        subscribers(topic) for topic in execution_events.topics(execution)
    ):
        return _complete_and_claim_in_one_statement(execution, done, outputs, target)
    claimed: list[Claimed] = []
    with transaction.atomic():
        if not engine.set_step_final(
            done.pk, (StepStatus.RUNNING,), StepStatus.COMPLETED, outputs=outputs, progress=100.0, error=""
        ):
            return []  # cancelled meanwhile
        events: list[StepEvent] = [(done.step_id, EventType.STEP_COMPLETED, StepStatus.COMPLETED, outputs, None)]
        row = _claim_dependent(execution, target)
        if row is not None:
            claimed.append(row)
            events.append((row.step_id, EventType.STEP_STARTED, StepStatus.RUNNING, None, None))
        execution_events.step_events(execution, events)
        execution_events.progress_event(execution)
        if row is None:
            # Not claimable (already queued, backing off, or cancelled): the locked path decides, after commit
            # (it locks the execution row, which this transaction must not take after a step row).
            transaction.on_commit(lambda: engine.advance(execution.pk, completed=done.step_id, freed=1))
    return claimed


def _claim_dependent(execution: PipelineExecution, target: dict) -> Claimed | None:
    running, args = _running_fields(step_timeout_seconds(target))
    params = target.get("params") or {}
    execution_pk = StepExecution._meta.get_field("execution").get_db_prep_save(execution.pk, connection)
    sql = (
        f"UPDATE {_table()} SET {running}, params = %s WHERE execution_id = %s AND step_id = %s AND status = %s "
        "AND enqueued_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= %s) RETURNING id, attempt"
    )
    args += [_json(params), execution_pk, target["id"], StepStatus.PENDING.value, _dt(timezone.now())]
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        row = cursor.fetchone()
    if row is None:
        return None
    return Claimed(row[0], target["id"], target["position"], row[1], True, params)


def _complete_and_claim_in_one_statement(
    execution: PipelineExecution, done: Claimed, outputs: dict, target: dict
) -> list[Claimed]:
    """PostgreSQL: the hop as ONE statement (data-modifying CTEs; atomic on its own, no BEGIN/COMMIT): a hop
    paid ~5 round trips, each 1-2 ms on a busy machine. Same compare-and-sets as ``_complete_and_claim``: the
    dependent is claimed only if the step was completed (``EXISTS (SELECT 1 FROM done)``, which also makes
    PostgreSQL update the step's row before the dependent's: the primary-key lock order), and each event is
    inserted only if its transition happened. Only for executions whose topics have no in-process subscribers
    (their events need ``events.dispatch`` with the rows; those go the ORM way)."""
    now = timezone.now()
    running, running_args = _running_fields(step_timeout_seconds(target))
    params = target.get("params") or {}
    rows = execution_events.step_event_rows(
        execution,
        [
            (done.step_id, EventType.STEP_COMPLETED, StepStatus.COMPLETED, outputs, None),
            (target["id"], EventType.STEP_STARTED, StepStatus.RUNNING, None, None),
        ],
    )
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    value_args: list[Any] = []
    for order, row in enumerate(rows):
        which = "done" if row["step_id"] == done.step_id else "next"
        value_args += [order, which, row["topic"], row["event_type"], row["step_id"], _json(row["payload"])]
    step_table, event_table = _table(), connection.ops.quote_name(Event._meta.db_table)
    sql = f"""
        WITH done AS (
            UPDATE {step_table} SET status = %s, completed_at = %s, outputs = %s, progress = 100.0, error = '',
                lease_expires_at = NULL, awaiting_event = false
            WHERE id = %s AND status = %s RETURNING id
        ), next AS (
            UPDATE {step_table} SET {running}, params = %s
            WHERE execution_id = %s AND step_id = %s AND status = %s AND enqueued_at IS NULL
                AND (next_attempt_at IS NULL OR next_attempt_at <= %s) AND EXISTS (SELECT 1 FROM done)
            RETURNING id, attempt
        ), events AS (
            INSERT INTO {event_table} (topic, type, execution_id, step_id, deployment_id, workflow_id, payload,
                handled_by, delivered, failures, created_at)
            SELECT v.topic, v.type, %s, v.step_id, %s, '', v.payload, '[]'::jsonb, true, 0, %s
            FROM (VALUES {values}) AS v(ord, which, topic, type, step_id, payload)
            WHERE (v.which = 'done' AND EXISTS (SELECT 1 FROM done))
                OR (v.which = 'next' AND EXISTS (SELECT 1 FROM next))
            ORDER BY v.ord
            RETURNING id
        )
        SELECT (SELECT count(*) FROM done), (SELECT id FROM next), (SELECT attempt FROM next),
            (SELECT max(id) FROM events)
    """
    execution_pk = StepExecution._meta.get_field("execution").get_db_prep_save(execution.pk, connection)
    args: list[Any] = [StepStatus.COMPLETED.value, now, _json(outputs), done.pk, StepStatus.RUNNING.value]
    args += [*running_args, _json(params), execution_pk, target["id"], StepStatus.PENDING.value, now]
    args += [execution.pk, execution.deployment_id, now, *value_args]
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        completed, next_pk, attempt, last_event = cursor.fetchone()
    if not completed:
        return []  # cancelled meanwhile: the cancel recorded it
    if last_event is not None:  # SSE streams: one wake-up for both events
        wake(Event(pk=last_event, execution_id=execution.pk, deployment_id=execution.deployment_id))
    execution_events.progress_event(execution)
    if next_pk is None:
        engine.advance(execution.pk, completed=done.step_id, freed=1)  # see ``_complete_and_claim``
        return []
    return [Claimed(next_pk, target["id"], target["position"], attempt, True, params)]
