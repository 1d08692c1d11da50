"""The event log's hot reads stay index scans on PostgreSQL as the log grows (issue 16, item 2).

EXPLAIN on a log of 30,000 events over 300 executions: the SSE stream's and ``GET /api/events``' read of one
execution's (deployment's) events after an id, the replay of a job's events for a step that starts waiting,
and the sweep's undelivered events. Skipped without a PostgreSQL ``DATABASE_URL`` (runs in the production pass).
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection

from pipelines.events import JOB_EVENTS_TOPIC
from pipelines.models import Event, PipelineExecution

pytestmark = [
    pytest.mark.production,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="EXPLAIN of PostgreSQL plans"
    ),
]

EXECUTIONS = 300
PER_EXECUTION = 100


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def big_log(owner) -> list[PipelineExecution]:
    executions = PipelineExecution.objects.bulk_create(
        [PipelineExecution(name=f"e{i}", dag={}, owner=owner, deployment_id=uuid.uuid4()) for i in range(EXECUTIONS)]
    )
    Event.objects.bulk_create(
        [
            Event(
                topic="pipelineExecutionEvents",
                type="step_completed",
                execution=execution,
                deployment_id=execution.deployment_id,
                step_id=f"s{n}",
                payload={"n": n},
                delivered=True,
                workflow_id=f"job-{i}-{n}" if n % 10 == 0 else "",
            )
            for i, execution in enumerate(executions)
            for n in range(PER_EXECUTION)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pipelines_event")
    return executions


@pytest.mark.django_db
def test_the_hot_event_log_reads_are_index_scans_without_a_sort(big_log):
    execution = big_log[EXECUTIONS // 2]
    middle = Event.objects.filter(execution=execution).order_by("id")[PER_EXECUTION // 2].pk
    reads = {
        "SSE / API, one execution after an id": Event.objects.filter(execution_id=execution.pk, id__gt=middle).order_by(
            "id"
        )[:100],
        "SSE / API, one deployment after an id": Event.objects.filter(
            deployment_id=execution.deployment_id, id__gt=middle
        ).order_by("id")[:100],
        "job events replayed to a waiting step": Event.objects.filter(
            topic=JOB_EVENTS_TOPIC, workflow_id="job-150-10"
        ).order_by("id"),
        "sweep: undelivered events": Event.objects.filter(delivered=False).order_by("id")[:500],
    }
    for name, queryset in reads.items():
        plan = _plan(queryset)
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
        if "after an id" in name:
            # Both conditions in the index: the rows after the id are found, not the whole log filtered.
            conditions = [line for line in plan.splitlines() if "Index Cond" in line]
            key = "execution_id =" if "execution" in name else "deployment_id ="
            assert any(key in line and "id >" in line for line in conditions), f"{name} filters by id:\n{plan}"
