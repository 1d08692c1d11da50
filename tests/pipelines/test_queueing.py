"""Backpressure and bulk queueing (issue 17.4): ready steps reach the broker in one write after commit, and a
queue deeper than PIPELINE_MAX_QUEUE_DEPTH answers new submissions 429 + Retry-After."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.conf import Conf

from pipelines import engine, queueing
from pipelines.models import PipelineExecution, StepExecution
from tests.pipelines.conftest import dag, step


@pytest.fixture
def broker():
    """The configured broker (ORM in the embedded pass, Redis in the production pass), emptied around the test."""
    real = queueing.broker()
    real.purge_queue()
    queueing._depth.value = None
    yield real
    real.purge_queue()
    queueing._depth.value = None


@pytest.fixture
def real_queue(monkeypatch):
    """Tasks go to the broker instead of running inline (tests run django-q2 ``sync``)."""
    monkeypatch.setattr(Conf, "SYNC", False)


@pytest.mark.django_db(transaction=True)
def test_it_queues_a_500_step_fan_out_with_one_broker_write_after_commit(owner_api, broker, real_queue):
    wide = dag(*[step(f"s{i}") for i in range(500)], name="wide")
    with CaptureQueriesContext(connection) as queries, pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.PIPELINE_MAX_RUNNING_STEPS_PER_USER", 0)
        response = owner_api.post("/api/executions", wide, content_type="application/json")
    assert response.status_code == 201, response.content

    # Quick (batchable) steps go as one task per chunk: 10 tasks of 50 steps, not 500 (issue 16).
    assert broker.queue_size() == 500 // engine.BATCH_SIZE
    assert StepExecution.objects.filter(enqueued_at__isnull=False).count() == 500
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "django_q_ormq"')]
    # One bulk INSERT (SQLite's variable limit splits 500 rows into two statements), not one per step.
    assert len(inserts) <= 2, f"{len(inserts)} broker writes"


@pytest.mark.django_db(transaction=True)
def test_it_answers_429_with_retry_after_while_the_queue_is_too_deep(owner_api, broker, settings):
    settings.PIPELINE_MAX_QUEUE_DEPTH = 3
    for i in range(5):
        broker.enqueue(f"someone else's task {i}")
    body = dag(step("a"), name="late")

    response = owner_api.post("/api/executions", body, content_type="application/json")

    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "5 tasks" in response.json()["detail"]
    assert not PipelineExecution.objects.exists()

    broker.purge_queue()
    queueing._depth.value = None  # the cached depth expires after a second; do not wait for it
    assert owner_api.post("/api/executions", body, content_type="application/json").status_code == 201
