"""An honest ETA: estimated from how long the same chart took on the same cluster before, else none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pipelines.models import PipelineExecution, StepExecution, StepStatus
from pipelines.services import execution_progress
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db

CHART = {"cluster_id": "c-1", "chart_ref": "charts/qdrant", "job_id": "job-eta"}


def _history(owner, seconds: float, params: dict, action: str = "test_wait_for_job") -> None:
    """A finished execution in which a step like ours took ``seconds``."""
    before = PipelineExecution.objects.create(owner=owner, dag={}, status="COMPLETED")
    end = timezone.now() - timedelta(hours=1)
    StepExecution.objects.create(
        execution=before,
        step_id="old",
        action=action,
        status=StepStatus.COMPLETED,
        params=params,
        started_at=end - timedelta(seconds=seconds),
        completed_at=end,
    )


def test_it_estimates_from_the_same_chart_on_the_same_cluster(run, owner):
    _history(owner, 40, CHART)
    _history(owner, 2, {**CHART, "cluster_id": "other-cluster"})  # fast elsewhere: not comparable
    execution = run(dag(step("deploy", "test_wait_for_job", params=CHART), step("after", "log", ["deploy"])))
    _history(owner, 5, {}, action="log")
    eta = execution_progress(execution=execution)["eta_seconds"]
    assert eta == pytest.approx(45, abs=3)


def test_it_gives_no_eta_until_something_comparable_has_finished(run, owner):
    _history(owner, 40, {**CHART, "chart_ref": "charts/valkey"})
    execution = run(dag(step("deploy", "test_wait_for_job", params=CHART)))
    progress = execution_progress(execution=execution)
    assert progress["current_steps"] == ["deploy"]
    assert progress["eta_seconds"] is None


def test_it_never_says_zero_for_a_step_that_overran_its_estimate(run, owner):
    _history(owner, 3, CHART)
    execution = run(dag(step("deploy", "test_wait_for_job", params=CHART)))
    StepExecution.objects.filter(execution=execution).update(started_at=timezone.now() - timedelta(seconds=60))
    assert execution_progress(execution=execution)["eta_seconds"] == 1.0
