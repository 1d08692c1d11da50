"""The generated DAG's top-level fields, and ``USE_PIPELINE_ORCHESTRATION`` flipping under deployments that
already started: each keeps the path it started on (stop, retry, sync). The path is chosen at start (a
pending deployment has none yet), recorded as ``pipeline_execution_id``."""

from __future__ import annotations

import pytest

from clusterjobs.models import Job
from pipelines.models import ExecutionStatus, PipelineExecution
from usecases.dag import CALLBACK_TOPIC, DAG_TIMEOUT_SECONDS, build_dag
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db


def test_the_generated_dag_has_the_documented_top_level_fields(create, sandbox) -> None:
    created = create(parameters={"chunk_size": 1024})
    deployment = UseCaseDeployment.objects.get(pk=created["id"])
    dag = build_dag(deployment=deployment)
    assert set(dag) == {
        "name", "version", "description", "parameters", "deployment", "settings", "steps", "outputs",
        "callback_topics",
    }  # fmt: skip
    assert dag["name"] == "deploy-usecase-my-rag"
    assert dag["version"] == "1.0.0"
    assert dag["description"] == f"Deploy use case: my-rag (agent-rag {deployment.template_version})"
    assert dag["parameters"] == {"chunk_size": 1024, "agent_concurrency": 4} == deployment.parameters
    assert dag["settings"] == {"timeout_seconds": DAG_TIMEOUT_SECONDS, "on_failure": "fail"}
    assert dag["outputs"] == {"deployment_id": str(deployment.pk)}
    assert dag["callback_topics"] == [CALLBACK_TOPIC] == ["budusecasesEvents"]
    assert dag["deployment"] == deployment.deployment_context
    assert dag["deployment"]["name"] == "my-rag"
    assert dag["deployment"]["namespace"] == created["namespace"]


def test_a_legacy_deployment_stays_legacy_after_the_flag_is_turned_on(owner_api, create, call, settings) -> None:
    settings.USE_PIPELINE_ORCHESTRATION = False
    created = create()
    url = f"/api/deployments/{created['id']}"
    call(owner_api.post, f"{url}/start")
    settings.USE_PIPELINE_ORCHESTRATION = True
    for _ in range(3):
        body = call(owner_api.post, f"{url}/sync").json()
    assert body["status"] == "running"
    assert body["pipeline_execution_id"] is None
    assert Job.objects.filter(source_id=created["id"]).count() == 3  # one job per component: the legacy path
    assert not PipelineExecution.objects.filter(deployment_id=created["id"], name__startswith="deploy-").exists()
    assert call(owner_api.post, f"{url}/stop").status_code == 200
    assert owner_api.get(url).json()["status"] == "stopped"


def test_a_failed_legacy_deployment_retries_on_the_legacy_path(owner_api, create, call, settings, sandbox) -> None:
    settings.USE_PIPELINE_ORCHESTRATION = False
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-vector-db")
    created = create()
    url = f"/api/deployments/{created['id']}"
    call(owner_api.post, f"{url}/start")
    assert call(owner_api.post, f"{url}/sync").json()["status"] == "failed"
    settings.USE_PIPELINE_ORCHESTRATION = True
    response = call(owner_api.post, f"{url}/retry")
    assert response.status_code == 200
    assert response.json()["pipeline_execution_id"] is None
    assert Job.objects.filter(source_id=created["id"]).count() == 2  # a new legacy job for vector_db
    assert not PipelineExecution.objects.filter(deployment_id=created["id"]).exists()


def test_a_pipeline_deployment_stays_on_its_pipeline_after_the_flag_is_turned_off(
    owner_api, create, call, settings
) -> None:
    created = create()
    url = f"/api/deployments/{created['id']}"
    started = owner_api.post(f"{url}/start").json()  # steps queued, not run
    execution_id = started["pipeline_execution_id"]
    assert started["status"] == "deploying"
    assert execution_id
    settings.USE_PIPELINE_ORCHESTRATION = False
    body = call(owner_api.post, f"{url}/sync").json()
    assert body["status"] == "deploying"
    assert body["pipeline_execution_id"] == execution_id
    assert not Job.objects.filter(source_id=created["id"]).exists()  # sync started no legacy job
    assert call(owner_api.post, f"{url}/stop").status_code == 200
    assert owner_api.get(url).json()["status"] == "stopped"
    assert PipelineExecution.objects.get(pk=execution_id).status == ExecutionStatus.CANCELLED


def test_a_failed_pipeline_deployment_retries_its_execution_after_the_flag_is_turned_off(
    owner_api, create, call, settings, sandbox
) -> None:
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-vector-db")
    created = create()
    url = f"/api/deployments/{created['id']}"
    call(owner_api.post, f"{url}/start")
    failed = owner_api.get(url).json()
    assert failed["status"] == "failed"
    assert failed["pipeline_execution_id"]
    settings.USE_PIPELINE_ORCHESTRATION = False
    response = call(owner_api.post, f"{url}/retry")
    assert response.status_code == 200
    assert response.json()["pipeline_execution_id"] == failed["pipeline_execution_id"]  # the same execution
    assert not Job.objects.filter(source_id=created["id"]).exists()  # legacy jobs use the deployment id
    assert PipelineExecution.objects.filter(deployment_id=created["id"]).count() == 1
