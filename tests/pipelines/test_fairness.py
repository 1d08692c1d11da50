"""Fair use of the workers (issue 10 part 4): a per-user limit on steps holding or queued for a worker, and
a ceiling on ``delay``."""

import pytest
from django.test import override_settings

from pipelines import engine, fairness, runner
from pipelines.models import ExecutionStatus, PipelineExecution, StepExecution
from pipelines.services import execution_submit
from tests.pipelines.conftest import dag, step


@pytest.fixture
def queue(monkeypatch) -> list[int]:
    """The broker: step pks in the order they were queued, run only when a test says so."""
    queued: list[int] = []
    monkeypatch.setattr(engine, "_dispatch_many", queued.extend)
    return queued


def _drain(queue: list[int], watch: list) -> list[int]:
    """Run queued steps first in, first out, as one worker would; after each, the busy count of each user."""
    peaks = []
    while queue:
        runner.run_step(queue.pop(0))
        peaks.append(max(fairness.busy_steps(user.pk) for user in watch))
    return peaks


def _owner_of(pk: int) -> int:
    return StepExecution.objects.select_related("execution").get(pk=pk).execution.owner_id


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=1)
def test_it_queues_one_users_fan_out_one_step_at_a_time_and_another_users_step_at_once(owner, other_user, queue):
    mine = execution_submit(dag=dag(*[step(f"s{i}") for i in range(4)]), owner=owner)
    assert len(queue) == 1, "over the limit: only one of the four ready steps may be queued"
    assert PipelineExecution.objects.get(pk=mine.pk).held_steps
    theirs = execution_submit(dag=dag(step("t")), owner=other_user)
    assert [_owner_of(pk) for pk in queue] == [owner.pk, other_user.pk], "the other user's step waits for no one"

    peaks = _drain(queue, [owner, other_user])

    assert max(peaks) <= 1
    for execution in (mine, theirs):
        execution.refresh_from_db()
        assert execution.status == "COMPLETED"
        assert not execution.held_steps
    assert set(StepExecution.objects.filter(execution=mine).values_list("attempt", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=1)
def test_it_runs_the_held_steps_of_a_users_second_execution_when_the_first_frees_a_slot(owner, queue):
    first = execution_submit(dag=dag(step("a")), owner=owner)
    second = execution_submit(dag=dag(step("b1"), step("b2")), owner=owner)
    assert len(queue) == 1
    assert PipelineExecution.objects.get(pk=second.pk).held_steps

    _drain(queue, [owner])  # a's completion wakes the held execution; nothing else would until the sweep

    for execution in (first, second):
        execution.refresh_from_db()
        assert execution.status == "COMPLETED", execution.error


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=1)
def test_it_runs_held_steps_when_the_users_other_execution_is_cancelled(owner, queue):
    first = execution_submit(dag=dag(step("a")), owner=owner)
    second = execution_submit(dag=dag(step("b")), owner=owner)
    assert len(queue) == 1

    engine.stop_execution(first, ExecutionStatus.CANCELLED, "cancelled by user")
    _drain(queue, [owner])

    second.refresh_from_db()
    assert second.status == "COMPLETED"
    assert PipelineExecution.objects.get(pk=first.pk).status == "CANCELLED"


@pytest.mark.django_db(transaction=True)
@override_settings(PIPELINE_MAX_RUNNING_STEPS_PER_USER=2)
def test_it_keeps_max_parallel_steps_below_the_users_limit(owner, queue):
    execution = execution_submit(
        dag=dag(*[step(f"s{i}") for i in range(5)], settings={"max_parallel_steps": 1}), owner=owner
    )
    assert len(queue) == 1
    _drain(queue, [owner])
    execution.refresh_from_db()
    assert execution.status == "COMPLETED"


@pytest.mark.django_db
@override_settings(PIPELINE_MAX_DELAY_SECONDS=60)
@pytest.mark.parametrize("seconds", [61, 3600, -1, True, "10"])
def test_it_refuses_a_delay_over_the_ceiling_with_422_and_the_field_path(owner_api, seconds):
    body = {"name": "sleepy", "steps": [{"id": "nap", "action": "delay", "params": {"seconds": seconds}}]}
    response = owner_api.post("/api/executions", body, content_type="application/json")
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["loc"][-4:] == ["steps", 0, "params", "seconds"]
    assert "60" in error["msg"]
    assert not PipelineExecution.objects.exists()
