"""The engine's per-step cost in database statements: a regression guard for throughput (issue 16: a chain
hop ≤ 2 ms, a fan-out ≥ 1,200 no-op steps/s on PostgreSQL + Redis), counted, not timed."""

import threading
import time

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from pipelines import engine, runner
from pipelines.models import Event, PipelineExecution, StepExecution
from pipelines.services import execution_submit
from tests.pipelines.conftest import dag, step

CHAIN = 50
# A chain hop of batchable steps (pipelines.batching): complete step i, claim i + 1, insert both events. On
# SQLite 3 statements + BEGIN/COMMIT (5.2 per step measured, the first claim and the finish included); on
# PostgreSQL one statement (1.3 measured). Before batching: 11 on SQLite, 14 before issue 16's lock-free hop.
MAX_QUERIES_PER_STEP = {"sqlite": 6, "postgresql": 2}
# A fan-out of batchable steps is claimed, run and recorded 50 at a time: 0.4 statements per step measured
# (15 per step before batching).
MAX_FAN_OUT_QUERIES_PER_STEP = 1
EXECUTION_LOCK = 'FROM "pipelines_pipelineexecution"'


@pytest.mark.django_db(transaction=True)  # real commits: the worker hands each next step to itself on commit
def test_it_runs_a_chain_of_log_steps_in_few_queries_per_step(owner):
    chain = dag(*[step(f"s{i}", depends_on=[f"s{i - 1}"] if i else []) for i in range(CHAIN)])
    engine.continuation.slot = []  # catch s0's task instead of running it inline (django-q2 sync mode)
    try:
        execution = execution_submit(dag=chain, owner=owner)
        (first,) = engine.continuation.slot
    finally:
        engine.continuation.slot = None
    assert StepExecution.objects.get(pk=first).step_id == "s0"

    with CaptureQueriesContext(connection) as queries:
        runner.run_step(first)  # as the worker that picked up s0's task

    execution = PipelineExecution.objects.get(pk=execution.pk)
    assert execution.status == "COMPLETED"
    assert execution.progress == 100.0
    assert set(StepExecution.objects.filter(execution=execution).values_list("status", flat=True)) == {"COMPLETED"}
    started = Event.objects.filter(execution=execution, type="step_started").count()
    assert started == CHAIN
    assert Event.objects.filter(execution=execution, type="step_completed").count() == CHAIN
    per_step = len(queries) / CHAIN
    budget = MAX_QUERIES_PER_STEP[connection.vendor]
    assert per_step <= budget, f"{len(queries)} queries for {CHAIN} steps ({per_step:.1f} per step)"
    # A chain hop does not read (lock) the execution row: only the last step's finish does.
    execution_reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and EXECUTION_LOCK in q["sql"].split(" WHERE ")[0]
    ]
    assert len(execution_reads) <= 3, execution_reads  # was one per step (50)


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=2)
def test_a_wide_fan_out_under_the_user_limit_reads_a_page_of_pending_steps_per_completion_not_all(owner, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(engine, "_dispatch_many", queued.extend)
    monkeypatch.setattr(runner, "take_queued_steps", lambda: True)
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(300)]), owner=owner)
    assert len(queued) == 2
    assert PipelineExecution.objects.get(pk=execution.pk).held_steps

    with CaptureQueriesContext(connection) as queries:
        while queued:
            runner.run_step(queued.pop(0))
    execution = PipelineExecution.objects.get(pk=execution.pk)
    assert execution.status == "COMPLETED"
    assert not execution.held_steps
    steps = StepExecution.objects.filter(execution=execution)
    assert {s.status for s in steps} == {"COMPLETED"}
    assert {s.attempt for s in steps} == {1}
    # Every read of the PENDING, not-yet-queued steps is a bounded page: each completion in an n-step fan-out
    # used to read all n of them (quadratic).
    pending_reads = [
        q["sql"]
        for q in queries.captured_queries
        if '"enqueued_at" IS NULL' in q["sql"] and q["sql"].startswith("SELECT")
    ]
    assert pending_reads, pending_reads[:2]
    assert all(" LIMIT " in sql for sql in pending_reads), pending_reads[:2]
    assert len(queries) / 300 <= MAX_FAN_OUT_QUERIES_PER_STEP, f"{len(queries)} queries for 300 steps"


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_STEP_LEASE_SECONDS=1.5)
def test_one_thread_per_worker_renews_the_leases_of_running_steps(owner):
    """Recovery of a killed worker needs leases; a thread started and joined per step was ~15 % of a no-op."""
    chain = dag(*[step(f"s{i}", depends_on=[f"s{i - 1}"] if i else []) for i in range(5)])
    execution = execution_submit(dag=chain, owner=owner)  # runs inline (sync)
    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
    assert [t.name for t in threading.enumerate()].count("lease-renewer") <= 1  # the process's one renewer

    running = StepExecution.objects.get(execution=execution, step_id="s0")
    StepExecution.objects.filter(pk=running.pk).update(status="RUNNING", lease_expires_at=None)
    with runner.leases.keep(running.pk):
        deadline = time.monotonic() + 10  # lease / 3 is 0.5 s; a loaded machine may take longer
        while StepExecution.objects.get(pk=running.pk).lease_expires_at is None and time.monotonic() < deadline:
            time.sleep(0.1)
        renewed = StepExecution.objects.get(pk=running.pk).lease_expires_at
    assert renewed is not None
    time.sleep(0.8)
    StepExecution.objects.filter(pk=running.pk).update(lease_expires_at=None)
    time.sleep(0.8)  # released: no longer renewed
    assert StepExecution.objects.get(pk=running.pk).lease_expires_at is None


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=0)  # all five queued at once (no per-user limit)
def test_it_runs_the_queued_steps_of_a_fan_out_in_the_worker_that_is_free_and_each_only_once(owner, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(engine, "_dispatch_many", queued.extend)  # the queue, without running anything
    monkeypatch.setattr(runner, "take_queued_steps", lambda: True)  # as on real workers (tests run sync)
    execution = execution_submit(dag=dag(*[step(f"w{i}") for i in range(5)]), owner=owner)
    assert len(queued) == 5

    runner.run_step(queued[0])  # one worker's task runs all five
    steps = StepExecution.objects.filter(execution=execution)
    assert {s.step_id: s.status for s in steps} == {f"w{i}": "COMPLETED" for i in range(5)}
    started = {s.pk: s.started_at for s in steps}

    for pk in queued[1:]:  # the other tasks are delivered later: they find their step done and return
        runner.run_step(pk)
    steps = StepExecution.objects.filter(execution=execution)
    assert {s.pk: s.started_at for s in steps} == started
    assert {s.attempt for s in steps} == {1}
    assert Event.objects.filter(execution=execution, type="step_started").count() == 5
    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
