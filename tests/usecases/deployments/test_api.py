"""POST /api/deployments validation (422 naming the field), the plan preview, start conflicts, and another
user's deployment being a 404 on every endpoint."""

from __future__ import annotations

import pytest

from pipelines.models import PipelineExecution
from tests.dbstate import everything
from tests.usecases.deployments.conftest import components
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db


def post(client, **body):
    return client.post("/api/deployments", body, content_type="application/json")


def locs(response) -> list[list]:
    assert response.status_code == 422, response.content
    return [e["loc"] for e in response.json()["detail"]]


@pytest.fixture
def base(sandbox, catalog) -> dict:
    return {"name": "my-rag", "template": "agent-rag", "cluster_id": str(sandbox.pk)}


def test_it_creates_a_pending_deployment_with_defaults_merged_in(owner_api, base, owner):
    response = post(owner_api, **base, parameters={"chunk_size": 1024})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["pipeline_execution_id"] is None
    assert body["parameters"] == {"chunk_size": 1024, "agent_concurrency": 4}
    assert body["namespace"] == f"uc-{body['id'].replace('-', '')[:8]}"
    assert {c["name"]: c["selected_component"] for c in body["components"]} == {
        "vector_db": "qdrant",
        "llm": "llama-3-8b",
        "agent_runtime": "",
    }
    assert [c["release_name"] for c in body["components"]] == ["my-rag-vector-db", "my-rag-llm", "my-rag-agent-runtime"]
    assert {c["status"] for c in body["components"]} == {"pending"}
    deployment = UseCaseDeployment.objects.get(pk=body["id"])
    assert deployment.owner == owner
    assert deployment.template_version == "1.0.0"
    assert deployment.template_snapshot["name"] == "agent-rag"


def test_it_takes_a_compatible_choice_for_a_slot(owner_api, base):
    body = post(owner_api, **base, components={"llm": "mistral-7b"}).json()
    assert {c["name"]: c["selected_component"] for c in body["components"]}["llm"] == "mistral-7b"
    assert components(body["id"])["llm"].selected_component == "mistral-7b"


@pytest.mark.parametrize(("extra", "loc"), [
    ({"components": {"llm": "qdrant"}}, ["components", "llm"]),
    ({"components": {"nope": "qdrant"}}, ["components", "nope"]),
    ({"components": {"llm": None}}, ["components", "llm"]),
    ({"components": {"agent_runtime": "x"}}, ["components", "agent_runtime"]),
    ({"parameters": {"unknown": 1}}, ["parameters", "unknown"]),
    ({"parameters": {"chunk_size": "big"}}, ["parameters", "chunk_size"]),
    ({"parameters": {"chunk_size": 100}}, ["parameters", "chunk_size"]),
    ({"parameters": {"agent_concurrency": 33}}, ["parameters", "agent_concurrency"]),
    ({"name": "Not A Label"}, ["name"]),
    ({"template": "missing"}, ["template"]),
    ({"cluster_id": "00000000-0000-0000-0000-000000000000"}, ["cluster_id"]),
    ({"cluster_id": "not-a-uuid"}, ["cluster_id"]),
    ({"notify_webhook_url": "ftp://example.com"}, ["notify_webhook_url"]),
])  # fmt: skip
def test_it_refuses_bad_input_naming_the_field(owner_api, base, extra, loc):
    assert loc in locs(post(owner_api, **{**base, **extra}))
    assert not UseCaseDeployment.objects.exists()


def test_it_refuses_a_second_deployment_with_the_same_name(owner_api, base):
    assert post(owner_api, **base).status_code == 201
    assert locs(post(owner_api, **base)) == [["name"]]
    assert UseCaseDeployment.objects.filter(name=base["name"]).count() == 1


def test_it_refuses_another_users_cluster(other_api, base):
    assert ["cluster_id"] in locs(post(other_api, **base))
    assert not UseCaseDeployment.objects.exists()


def test_it_refuses_another_users_private_template(owner_api, other_user, base):
    template = UseCaseTemplate.objects.get(name="agent-rag")
    template.pk, template.name, template.source, template.owner = None, "private-rag", "custom", other_user
    template.visibility = "private"
    template.save()
    assert locs(post(owner_api, **{**base, "template": "private-rag"})) == [["template"]]
    assert not UseCaseDeployment.objects.exists()


def _optional_template(owner, **changes) -> UseCaseTemplate:
    from usecases.services.templates import template_create

    document = UseCaseTemplate.objects.get(name="agent-rag").to_document()
    document.update(name="rag-optional", **changes)
    document["components"][0]["required"] = False  # vector_db
    return template_create(owner=owner, document=document)


def test_it_refuses_to_leave_out_a_component_others_reference(owner_api, owner, base):
    _optional_template(owner)
    response = post(owner_api, **{**base, "template": "rag-optional"}, components={"vector_db": None})
    assert locs(response) == [["components", "agent_runtime"]]
    assert "vector_db" in response.json()["detail"][0]["msg"]
    assert not UseCaseDeployment.objects.exists()


def test_it_leaves_out_an_optional_component_and_does_not_build_its_step(owner_api, owner, base):
    template = _optional_template(owner)
    agent = template.components[2]
    agent["chart"]["values"].pop("vectordb_endpoint")
    template.save()
    response = post(owner_api, **{**base, "template": "rag-optional"}, components={"vector_db": None})
    assert response.status_code == 201, response.content
    assert [c["name"] for c in response.json()["components"]] == ["llm", "agent_runtime"]
    assert set(components(response.json()["id"])) == {"llm", "agent_runtime"}
    plan = owner_api.get(f"/api/deployments/{response.json()['id']}/plan").json()
    assert [s["id"] for s in plan["dag"]["steps"]] == ["cluster_health", "llm", "agent_runtime", "notify_complete"]
    assert plan["waves"] == [["llm"], ["agent_runtime"]]


def test_it_previews_the_plan_with_parameters_resolved_and_step_outputs_pending(owner_api, base):
    created = post(owner_api, **base, parameters={"agent_concurrency": 8}).json()
    plan = owner_api.get(f"/api/deployments/{created['id']}/plan").json()
    assert plan["waves"] == [["vector_db", "llm"], ["agent_runtime"]]
    agent = {c["name"]: c for c in plan["components"]}["agent_runtime"]
    assert agent["values"]["concurrency"] == 8
    assert agent["values"]["env"] == {"CHUNK_SIZE": 512, "DEPLOYMENT_NAME": "my-rag"}
    assert agent["values"]["llm_endpoint"] == "{{ steps.llm.outputs.endpoint_url }}"
    assert agent["pending_refs"] == ["steps.llm.outputs.endpoint_url", "steps.vector_db.outputs.endpoint_url"]
    assert agent["release_name"] == "my-rag-agent-runtime"
    assert agent["chart_ref"] == "charts/agent-runtime"
    llm = {c["name"]: c for c in plan["components"]}["llm"]
    assert llm["chart_ref"] == "charts/vllm"
    assert llm["values"]["model"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert not PipelineExecution.objects.exists()  # a preview touches nothing


def test_it_starts_once_and_answers_409_to_a_second_start(owner_api, base):
    created = post(owner_api, **base).json()
    first = owner_api.post(f"/api/deployments/{created['id']}/start")
    assert first.status_code == 200
    assert first.json()["status"] == "deploying"
    assert {c["status"] for c in first.json()["components"]} == {"deploying"}
    second = owner_api.post(f"/api/deployments/{created['id']}/start")
    assert second.status_code == 409
    assert PipelineExecution.objects.count() == 1
    execution = PipelineExecution.objects.get()
    assert UseCaseDeployment.objects.get(pk=created["id"]).pipeline_execution_id == str(execution.pk)


def test_it_lists_only_the_users_own_deployments_and_staff_sees_all(owner_api, other_api, staff_api, base):
    created = post(owner_api, **base).json()
    assert [d["id"] for d in owner_api.get("/api/deployments").json()["items"]] == [created["id"]]
    assert other_api.get("/api/deployments").json()["items"] == []
    assert [d["id"] for d in staff_api.get("/api/deployments").json()["items"]] == [created["id"]]
    assert staff_api.get(f"/api/deployments/{created['id']}").status_code == 200


@pytest.mark.parametrize(("method", "suffix"), [
    ("get", ""), ("get", "/progress"), ("get", "/plan"), ("post", "/start"), ("post", "/stop"),
    ("post", "/retry"), ("post", "/sync"), ("delete", ""),
])  # fmt: skip
def test_it_answers_404_to_another_user_on_every_endpoint(owner_api, other_api, base, method, suffix):
    created = post(owner_api, **base).json()
    before = everything()
    response = getattr(other_api, method)(f"/api/deployments/{created['id']}{suffix}")
    assert response.status_code == 404
    assert everything() == before  # the deployment, its components, revisions and events as they were
    deployment = UseCaseDeployment.objects.get(pk=created["id"])
    assert deployment.status == "pending"
    assert deployment.pipeline_execution_id == ""


def test_it_requires_authentication(client, base):
    assert client.get("/api/deployments").status_code == 401


def test_it_documents_the_deployment_endpoints_in_openapi(owner_api):
    schema = owner_api.get("/api/openapi.json").json()
    paths = schema["paths"]
    for suffix in ("", "/progress", "/plan", "/start", "/stop", "/retry", "/sync"):
        assert f"/api/deployments/{{deployment_id}}{suffix}" in paths
    body = paths["/api/deployments"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"name", "template", "cluster_id"} <= set(body["required"])
