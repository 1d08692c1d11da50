"""Reading an execution's progress never writes: the worker that reports progress records the high-water mark."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines import execution_events
from pipelines.models import PipelineExecution, StepExecution
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(run, monkeypatch):
    """An execution whose second step waits for a job, its progress moved to 60 % by hand (no event)."""
    monkeypatch.setattr(execution_events, "PROGRESS_INTERVAL_SECONDS", 0)  # every report counts, however close together
    execution = run(dag(step("a"), step("deploy", "test_wait_for_job", ["a"], params={"job_id": "job-r"})))
    StepExecution.objects.filter(execution=execution, step_id="deploy").update(progress=60)
    return execution


def test_it_answers_progress_without_writing(waiting, owner_api):
    stored = PipelineExecution.objects.get(pk=waiting.pk).progress
    with CaptureQueriesContext(connection) as queries:
        response = owner_api.get(f"/api/executions/{waiting.pk}/progress")

    assert response.status_code == 200
    assert response.json()["percent"] == 80.0
    writes = [q["sql"] for q in queries if "pipelines_" in q["sql"] and not q["sql"].lstrip().startswith("SELECT")]
    assert writes == []
    assert PipelineExecution.objects.get(pk=waiting.pk).progress == stored


def test_it_records_progress_when_the_worker_reports_it(waiting, publish_job):
    publish_job("job-r", "job_progress", percent=70)

    assert PipelineExecution.objects.get(pk=waiting.pk).progress == 85.0


def test_it_never_answers_less_than_the_recorded_progress(waiting, owner_api, publish_job):
    publish_job("job-r", "job_progress", percent=70)
    StepExecution.objects.filter(execution=waiting, step_id="deploy").update(progress=0)  # a retry restarts at 0

    response = owner_api.get(f"/api/executions/{waiting.pk}/progress")

    assert response.json()["percent"] == 85.0
