"""USE_PIPELINE_ORCHESTRATION off: one job per component, in order; ``sync`` polls the jobs."""

from __future__ import annotations

import pytest

from clusterjobs.models import Job
from pipelines.models import PipelineExecution
from tests.dbstate import everything
from tests.usecases.deployments.conftest import components
from tests.usecases.deployments.test_lifecycle import agent_env
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def legacy(settings, deploy_settings):
    settings.USE_PIPELINE_ORCHESTRATION = False


def statuses(deployment_id) -> dict[str, str]:
    return {name: c.status for name, c in components(deployment_id).items()}


def test_it_deploys_one_job_per_component_in_order_through_sync(legacy, owner_api, create, call, sandbox):
    created = create()
    url = f"/api/deployments/{created['id']}"
    assert call(owner_api.post, f"{url}/start").status_code == 200
    assert Job.objects.filter(source_id=created["id"]).count() == 1  # only the first component's job
    assert statuses(created["id"]) == {"vector_db": "deploying", "llm": "deploying", "agent_runtime": "deploying"}

    progress = owner_api.get(f"{url}/progress").json()
    assert progress["execution_id"] is None
    assert progress["percent"] == 0.0

    call(owner_api.post, f"{url}/sync")
    assert statuses(created["id"])["vector_db"] == "running"
    assert owner_api.get(f"{url}/progress").json()["percent"] == pytest.approx(33.3)
    call(owner_api.post, f"{url}/sync")
    call(owner_api.post, f"{url}/sync")
    body = call(owner_api.post, f"{url}/sync").json()

    assert body["status"] == "running"
    assert body["pipeline_execution_id"] is None
    assert set(statuses(created["id"]).values()) == {"running"}
    assert Job.objects.filter(source_id=created["id"]).count() == 3
    assert not PipelineExecution.objects.exists()
    llm = components(created["id"])["llm"]
    assert agent_env(sandbox.standin, body["namespace"])["LLM_ENDPOINT"] == llm.endpoint_url


def test_it_fails_on_a_failed_job_and_stops_through_the_uninstall(legacy, owner_api, create, call, sandbox, settings):
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-vector-db")
    created = create()
    url = f"/api/deployments/{created['id']}"
    call(owner_api.post, f"{url}/start")
    body = call(owner_api.post, f"{url}/sync").json()
    assert body["status"] == "failed"
    assert "vector_db" in body["error"]
    assert statuses(created["id"])["vector_db"] == "failed"
    assert Job.objects.filter(source_id=created["id"]).count() == 1  # nothing after the failed component

    assert call(owner_api.delete, url).status_code == 202
    assert not UseCaseDeployment.objects.filter(pk=created["id"]).exists()


def test_it_returns_current_state_when_syncing_a_pipeline_deployment(owner_api, create, call):
    created = create()
    call(owner_api.post, f"/api/deployments/{created['id']}/start")
    before = everything()
    body = owner_api.post(f"/api/deployments/{created['id']}/sync").json()
    assert body["status"] == "running"
    assert body["pipeline_execution_id"]
    assert everything() == before  # the pipeline owns the deployment: a sync starts and changes nothing
