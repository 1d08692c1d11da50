"""The ETA's value: the remaining critical path, each remaining step estimated from finished steps'
durations (same action first, else the mean of all), minus what a running step has already spent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pipelines.models import StepExecution
from pipelines.services import execution_progress
from tests.pipelines.conftest import dag, statuses, step

pytestmark = pytest.mark.django_db


def test_the_eta_is_the_remaining_critical_path(run) -> None:
    execution = run(
        dag(
            step("a"),
            step("b", "set_output", ["a"], params={"values": {"x": 1}}),
            step("wait", "test_wait_for_job", ["b"], params={"job_id": "job-eta"}),
            step("c", depends_on=["wait"]),
            step("d", depends_on=["wait"]),
            step("e", "set_output", ["c"], params={"values": {"y": 2}}),
        )
    )
    assert statuses(execution)["wait"] == "AWAITING_EVENT"
    now = timezone.now()
    # Finished: one log step of 10 s, one set_output step of 30 s (mean of all: 20 s).
    StepExecution.objects.filter(execution=execution, step_id="a").update(
        started_at=now - timedelta(seconds=100), completed_at=now - timedelta(seconds=90)
    )
    StepExecution.objects.filter(execution=execution, step_id="b").update(
        started_at=now - timedelta(seconds=90), completed_at=now - timedelta(seconds=60)
    )
    # The waiting step has no finished step of its action (20 s, the mean), 5 s of it spent: 15 s left.
    StepExecution.objects.filter(execution=execution, step_id="wait").update(started_at=now - timedelta(seconds=5))
    progress = execution_progress(execution=execution)
    # Longest remaining path: wait (15) → c (log, 10) → e (set_output, 30) = 55; wait → d is only 25.
    assert progress["eta_seconds"] == pytest.approx(55.0, abs=0.5)
    assert progress["current_steps"] == ["wait"] and progress["completed_steps"] == 2


def test_the_eta_is_unknown_before_any_step_finished_and_zero_at_the_end(run, publish_job) -> None:
    execution = run(
        dag(step("wait", "test_wait_for_job", params={"job_id": "job-eta2"}), step("c", depends_on=["wait"]))
    )
    assert execution_progress(execution=execution)["eta_seconds"] is None
    publish_job("job-eta2", "job_completed")
    execution.refresh_from_db()
    assert execution.status == "COMPLETED" and execution_progress(execution=execution)["eta_seconds"] == 0.0
