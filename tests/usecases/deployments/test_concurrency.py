"""Two starts at the same time (two threads, real commits): one wins, the other gets 409, one execution.

PostgreSQL only (the production pass of ``scripts/test.sh``)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from budportal.errors import ConflictError
from pipelines.models import PipelineExecution
from usecases.models.deployments import UseCaseDeployment
from usecases.services.deployments import deployment_create, deployment_start

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_submits_once_when_two_starts_race(owner, sandbox, catalog):
    if connection.vendor == "sqlite":
        pytest.skip("in-memory SQLite's shared cache locks whole tables; this runs on PostgreSQL (test.sh pass 2)")
    deployment = deployment_create(owner=owner, name="race", template="agent-rag", cluster_id=sandbox.pk)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start() -> None:
        try:
            barrier.wait()
            deployment_start(deployment=UseCaseDeployment.objects.get(pk=deployment.pk))
            outcomes.append("started")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(outcomes) == ["conflict", "started"]
    assert PipelineExecution.objects.filter(deployment_id=deployment.pk, name__startswith="deploy-").count() == 1
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "running"
