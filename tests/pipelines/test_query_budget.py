"""The engine's per-step cost in database statements: a regression guard for throughput (the target in
tests/bench/README.md: ≥ 300 no-op steps/s on PostgreSQL + Redis), counted, not timed."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from pipelines import engine, runner
from pipelines.models import Event, PipelineExecution, StepExecution
from pipelines.services import execution_submit
from tests.pipelines.conftest import dag, step

CHAIN = 50
# claim + step_started, complete + step_completed, lock the execution, read the next candidate and its
# dependencies, mark it queued, read the next step: ~10 statements (+ BEGIN/COMMIT where logged).
MAX_QUERIES_PER_STEP = 14


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
    assert execution.status == "COMPLETED" and execution.progress == 100.0
    assert set(StepExecution.objects.filter(execution=execution).values_list("status", flat=True)) == {"COMPLETED"}
    started = Event.objects.filter(execution=execution, type="step_started").count()
    assert started == CHAIN and Event.objects.filter(execution=execution, type="step_completed").count() == CHAIN
    per_step = len(queries) / CHAIN
    assert per_step <= MAX_QUERIES_PER_STEP, f"{len(queries)} queries for {CHAIN} steps ({per_step:.1f} per step)"


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
    assert {s.pk: s.started_at for s in steps} == started and {s.attempt for s in steps} == {1}
    assert Event.objects.filter(execution=execution, type="step_started").count() == 5
    assert PipelineExecution.objects.get(pk=execution.pk).status == "COMPLETED"
