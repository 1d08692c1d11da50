"""Quick steps in batches (issue 16, ``pipelines.batching``): the guarantees of the one-step path still hold."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test import override_settings
from django.utils import timezone

from pipelines import batching, engine, queueing, runner, sweep
from pipelines import tasks as tasks_module
from pipelines.actions.log import LogAction
from pipelines.models import Event, PipelineExecution, StepExecution
from pipelines.services import execution_cancel, execution_submit
from tests.pipelines.conftest import dag, step


class Queue:
    """The broker: tasks handed out in order (thread-safe: two workers may take from it)."""

    def __init__(self) -> None:
        self.tasks: list[int] = []
        self.lock = threading.Lock()
        self.dispatched = 0

    def put(self, pks: list[int]) -> None:
        with self.lock:
            self.tasks.extend(pks)
            self.dispatched += len(pks)

    def take(self) -> int | None:
        with self.lock:
            return self.tasks.pop(0) if self.tasks else None

    def drain(self) -> None:
        while (pk := self.take()) is not None:
            runner.run_step(pk)


@pytest.fixture
def queue(monkeypatch) -> Queue:
    q = Queue()
    monkeypatch.setattr(engine, "_dispatch_many", q.put)  # the queue, without running anything inline
    monkeypatch.setattr(runner, "take_queued_steps", lambda: True)  # as on real workers (tests run sync)
    return q


def _running(execution_id) -> int:
    return StepExecution.objects.filter(execution_id=execution_id, status="RUNNING").count()


def _active(execution_id) -> int:
    """Steps that hold a worker or a place in the queue (what ``max_parallel_steps`` counts)."""
    return StepExecution.objects.filter(
        Q(status="RUNNING") | Q(status="PENDING", enqueued_at__isnull=False), execution_id=execution_id
    ).count()


def _watch_running(monkeypatch) -> list[tuple[int, int]]:
    """(RUNNING, RUNNING or queued) steps of the step's execution, seen by each log step as it runs."""
    seen: list[tuple[int, int]] = []
    original = LogAction.execute

    def execute(self, ctx):
        seen.append((_running(ctx.execution_id), _active(ctx.execution_id)))
        return original(self, ctx)

    monkeypatch.setattr(LogAction, "execute", execute)
    return seen


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=0)
def test_a_batch_runs_at_most_max_parallel_steps_at_once(owner, queue, monkeypatch):
    seen = _watch_running(monkeypatch)
    the_dag = dag(*[step(f"w{i}") for i in range(20)], settings={"max_parallel_steps": 3})
    execution = execution_submit(dag=the_dag, owner=owner)
    queue.drain()

    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
    assert len(seen) == 20
    assert max(running for running, _ in seen) == 3  # three claimed together (one at a time before batches)
    assert max(active for _, active in seen) == 3  # and never a fourth queued or running


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=1)
def test_under_the_per_user_limit_a_fan_out_runs_in_batches_in_one_worker_slot(owner, queue, monkeypatch):
    seen = _watch_running(monkeypatch)
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(120)]), owner=owner)
    queue.drain()

    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
    # While a batch runs in the user's one worker slot, no other step of theirs waits in the queue for a worker.
    assert max(active - running for running, active in seen) == 0
    assert max(running for running, _ in seen) == batching.BATCH_SIZE  # but that worker ran a batch at once
    assert queue.dispatched <= 4  # a task per batch, not 120 (one per step before)


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=0)
def test_a_cancel_during_a_batch_leaves_every_step_of_it_cancelled_and_records_no_completion(owner, queue, monkeypatch):
    seen: list[int] = []
    original = LogAction.execute

    def execute(self, ctx):
        if ctx.step_id == "w5":  # the user cancels while the batch runs
            seen.append(_running(ctx.execution_id))
            execution_cancel(execution_id=ctx.execution_id)
        return original(self, ctx)

    monkeypatch.setattr(LogAction, "execute", execute)
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(10)]), owner=owner)
    queue.drain()

    assert seen[0] == 10  # the whole fan-out was one batch, RUNNING when the cancel came
    execution = PipelineExecution.objects.get(pk=execution.pk)
    assert execution.status == "CANCELLED"
    statuses = Counter(StepExecution.objects.filter(execution=execution).values_list("status", flat=True))
    assert statuses == {"CANCELLED": 10}
    events = list(Event.objects.filter(execution=execution).values_list("type", flat=True))
    assert "step_completed" not in events
    assert events[-1] in ("execution_completed", "step_failed")
    assert events.count("step_failed") == 10  # each step's cancellation, once


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=0, PIPELINE_STEP_LEASE_SECONDS=30)
def test_the_sweep_recovers_the_steps_of_a_worker_killed_mid_batch(owner, queue):
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(8)]), owner=owner)
    first = StepExecution.objects.select_related("execution").get(execution=execution, step_id="w0")
    engine.with_dag(first.execution)
    claimed = batching._claim_batch(first.execution, first)  # the worker claims a batch, then is killed
    assert len(claimed) == 8
    assert _running(execution.pk) == 8
    assert StepExecution.objects.filter(execution=execution, lease_expires_at__isnull=False).count() == 8

    StepExecution.objects.filter(execution=execution).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    queue.tasks.clear()
    sweep.sweep()
    assert _running(execution.pk) == 0  # every step of the dead batch re-queued
    queue.drain()

    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
    steps = StepExecution.objects.filter(execution=execution)
    assert {s.status for s in steps} == {"COMPLETED"}
    assert {s.attempt for s in steps} == {2}


def _worker(queue: Queue, errors: list[BaseException]) -> None:
    try:
        queue.drain()
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=2)
def test_two_workers_run_a_500_step_fan_out_with_one_started_and_one_completed_event_per_step(owner, queue):
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(500)]), owner=owner)
    errors: list[BaseException] = []
    # SQLite's in-memory test database locks whole tables between threads: one worker there, two on PostgreSQL.
    count = 2 if connection.vendor == "postgresql" else 1
    for _ in range(3):  # tasks queued while both workers had stopped are taken by the next round
        workers = [threading.Thread(target=_worker, args=(queue, errors)) for _ in range(count)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
    assert not errors

    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
    steps = StepExecution.objects.filter(execution=execution)
    assert {s.status for s in steps} == {"COMPLETED"}
    assert {s.attempt for s in steps} == {1}
    events = Counter(
        Event.objects.filter(execution=execution, type__in=["step_started", "step_completed"]).values_list(
            "type", "step_id"
        )
    )
    assert len(events) == 1000
    assert set(events.values()) == {1}


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=0)
def test_a_fan_out_of_quick_steps_is_queued_as_one_task_per_chunk_and_each_chunk_runs_together(owner, monkeypatch):
    tasks: list[tuple[list[int], int]] = []
    monkeypatch.setattr(queueing, "dispatch_steps", lambda pks, chunk=1: tasks.append((list(pks), chunk)))
    slow = step("templated", params={"message": "{{ parameters.x }}"})  # a render: not batchable
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(120)], slow), owner=owner, parameters={"x": 1})
    assert sorted(chunk for _, chunk in tasks) == [1, batching.BATCH_SIZE]
    quick = next(pks for pks, chunk in tasks if chunk > 1)
    assert len(quick) == 120  # queueing.dispatch_steps makes 3 broker tasks of them

    seen = _watch_running(monkeypatch)
    tasks_module.run_steps(quick[: batching.BATCH_SIZE])  # one chunk's task, as a worker runs it
    steps = dict(StepExecution.objects.filter(execution=execution).values_list("step_id", "status"))
    assert sum(1 for status in steps.values() if status == "COMPLETED") == batching.BATCH_SIZE
    assert max(running for running, _ in seen) == batching.BATCH_SIZE  # claimed together
    for start in range(batching.BATCH_SIZE, 120, batching.BATCH_SIZE):
        tasks_module.run_steps(quick[start : start + batching.BATCH_SIZE])
    (slow_pk,) = next(pks for pks, chunk in tasks if chunk == 1)
    tasks_module.run_step(slow_pk)  # the old one-step task still works
    execution = PipelineExecution.objects.get(pk=execution.pk)
    assert execution.status == "COMPLETED", execution.error
