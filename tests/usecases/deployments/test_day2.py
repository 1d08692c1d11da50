"""Day 2 on the sandbox cluster (the Kubernetes API stand-in with the real, pinned helm): revisions, change
with a plan, apply, failed upgrade, rollback, repair, ownership and concurrent applies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dbstate import everything
from tests.usecases.deployments.conftest import components
from usecases.models.deployments import DeploymentRevision, UseCaseDeployment

pytestmark = pytest.mark.django_db


def release_versions(standin, namespace: str, release: str) -> list[str]:
    """The Helm release records (``sh.helm.release.v1.<release>.vN`` Secrets) the stand-in stores."""
    secrets = standin.objects("Secret", namespace, label_selector=f"owner=helm,name={release}")
    return sorted(s["metadata"]["labels"]["version"] for s in secrets)


def qdrant(standin, namespace: str) -> dict[str, Any]:
    return next(
        d for d in standin.objects("Deployment", namespace) if d["metadata"]["name"] == "my-rag-vector-db-qdrant"
    )


@pytest.fixture
def deployed(owner_api, create, call) -> dict:
    created = create()
    response = call(owner_api.post, f"/api/deployments/{created['id']}/start")
    assert response.status_code == 200, response.content
    body = owner_api.get(f"/api/deployments/{created['id']}").json()
    assert body["status"] == "running"
    return body


def patch(api, deployment_id: str, body: dict):
    return api.patch(f"/api/deployments/{deployment_id}", body, content_type="application/json")


def apply(call, api, deployment_id: str, body: dict | None = None):
    return call(api.post, f"/api/deployments/{deployment_id}/apply", body or {})


def test_it_records_the_first_install_as_revision_1_with_each_components_helm_revision(owner_api, deployed, owner):
    revisions = owner_api.get(f"/api/deployments/{deployed['id']}/revisions").json()
    assert [(r["number"], r["kind"], r["status"]) for r in revisions] == [(1, "install", "succeeded")]
    first = revisions[0]
    assert first["created_by"] == owner.username
    assert first["completed_at"]
    assert first["execution_id"] == deployed["pipeline_execution_id"]
    assert {n: c["helm_revision"] for n, c in first["components"].items()} == {
        "vector_db": 1,
        "llm": 1,
        "agent_runtime": 1,
    }
    assert first["components"]["vector_db"]["chart_version"]
    assert deployed["live_revision"] == 1
    assert deployed["last_apply_failed"] is False
    detail = owner_api.get(f"/api/deployments/{deployed['id']}/revisions/1").json()
    assert [s["id"] for s in detail["dag"]["steps"]][0] == "cluster_health"


def test_it_upgrades_only_the_changed_component_and_leaves_the_other_releases_alone(owner_api, deployed, call, sandbox):
    ns, pk = deployed["namespace"], deployed["id"]
    response = patch(owner_api, pk, {"values": {"vector_db": {"replicaCount": 2}}})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "draft"
    assert response.json()["number"] == 2

    plan = owner_api.get(f"/api/deployments/{pk}/plan?revision=draft").json()
    assert {c["name"]: c["action"] for c in plan["components"]} == {
        "vector_db": "upgrade",
        "llm": "skip",
        "agent_runtime": "skip",
    }
    assert "-replicaCount: 1\n+replicaCount: 2" in plan["components"][0]["values_diff"]

    response = apply(call, owner_api, pk)
    assert response.status_code == 200, response.content
    body = owner_api.get(f"/api/deployments/{pk}").json()
    assert body["status"] == "running"
    assert body["live_revision"] == 2
    assert qdrant(sandbox.standin, ns)["spec"]["replicas"] == 2
    assert release_versions(sandbox.standin, ns, "my-rag-vector-db") == ["1", "2"]
    assert release_versions(sandbox.standin, ns, "my-rag-llm") == ["1"]
    assert release_versions(sandbox.standin, ns, "my-rag-agent-runtime") == ["1"]
    revision = DeploymentRevision.objects.get(deployment_id=pk, number=2)
    assert revision.status == "succeeded"
    assert revision.kind == "upgrade"
    assert {n: (c["action"], c["helm_revision"]) for n, c in revision.components.items()} == {
        "vector_db": ("upgrade", 2),
        "llm": ("skip", 1),
        "agent_runtime": ("skip", 1),
    }
    assert revision.changes == ["values of vector_db"]
    # The agent still got the endpoints of the components that were skipped.
    assert {c.status for c in components(pk).values()} == {"running"}


def test_a_failed_upgrade_leaves_the_previous_revision_running_and_says_so(
    owner_api, deployed, call, sandbox, settings
):
    ns, pk = deployed["namespace"], deployed["id"]
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-vector-db")
    patch(owner_api, pk, {"values": {"vector_db": {"replicaCount": 3}}})
    assert apply(call, owner_api, pk).status_code == 200

    body = owner_api.get(f"/api/deployments/{pk}").json()
    assert body["status"] == "running"
    assert body["live_revision"] == 1
    assert body["last_apply_failed"] is True
    assert body["error"].startswith("revision 2 failed:")
    assert "revision 1 is still live" in body["error"]
    assert DeploymentRevision.objects.get(deployment_id=pk, number=2).status == "failed"
    vector_db = components(pk)["vector_db"]
    assert vector_db.status == "running"
    assert "kept at its previous release" in vector_db.error
    assert qdrant(sandbox.standin, ns)["spec"]["replicas"] == 1  # --atomic rolled the release back


def test_rollback_restores_the_earlier_values_on_the_cluster_as_a_new_revision(owner_api, deployed, call, sandbox):
    ns, pk = deployed["namespace"], deployed["id"]
    patch(owner_api, pk, {"values": {"vector_db": {"replicaCount": 2}}, "parameters": {"chunk_size": 1024}})
    apply(call, owner_api, pk)
    assert qdrant(sandbox.standin, ns)["spec"]["replicas"] == 2

    response = call(owner_api.post, f"/api/deployments/{pk}/rollback", {"revision": 1})
    assert response.status_code == 200, response.content
    assert response.json()["number"] == 3
    assert response.json()["kind"] == "rollback"
    assert response.json()["source_revision"] == 1
    assert qdrant(sandbox.standin, ns)["spec"]["replicas"] == 1
    agent = next(
        d for d in sandbox.standin.objects("Deployment", ns) if d["metadata"]["name"] == "my-rag-agent-runtime"
    )
    env = {e["name"]: e.get("value") for e in agent["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CHUNK_SIZE"] == "512"
    deployment = UseCaseDeployment.objects.get(pk=pk)
    assert deployment.live_revision == 3
    assert deployment.value_overrides == {}
    assert DeploymentRevision.objects.get(deployment_id=pk, number=3).status == "succeeded"


def test_the_plan_shows_removed_changed_and_added_objects_against_the_cluster(owner_api, deployed, call):
    pk = deployed["id"]
    patch(owner_api, pk, {"values": {"vector_db": {"replicaCount": 2, "persistence": {"enabled": False}}}})
    before = everything()
    plan = owner_api.get(f"/api/deployments/{pk}/plan?revision=draft").json()
    assert everything() == before  # planning against the cluster reads only
    manifest = next(c for c in plan["components"] if c["name"] == "vector_db")["manifest"]
    assert manifest["error"] == ""
    changes = {o["object"]: o for o in manifest["objects"]}
    assert changes["PersistentVolumeClaim/my-rag-vector-db-qdrant"]["change"] == "removed"
    assert changes["Deployment/my-rag-vector-db-qdrant"]["change"] == "changed"
    assert "+  replicas: 2" in changes["Deployment/my-rag-vector-db-qdrant"]["diff"]
    assert "Service/my-rag-vector-db-qdrant" not in changes  # unchanged objects are left out

    apply(call, owner_api, pk)
    back = owner_api.get(f"/api/deployments/{pk}/plan?revision=1").json()
    objects = {o["object"]: o["change"] for c in back["components"] for o in c["manifest"]["objects"]}
    assert objects["PersistentVolumeClaim/my-rag-vector-db-qdrant"] == "added"


@pytest.mark.parametrize(
    ("values", "loc"),
    [
        (
            {"vector_db": {"securityContext": {"privileged": True}}},
            ["values", "vector_db", "securityContext", "privileged"],
        ),
        ({"vector_db": {"replicaCount": "many"}}, ["values", "vector_db", "replicaCount"]),
        ({"vector_db": {"image": {"repository": "x", "pullSecret": "y"}}}, ["values", "vector_db", "image"]),
        ({"vector_db": {"x": "{{ steps.agent_runtime.outputs.endpoint_url }}"}}, ["values", "vector_db", "x"]),
        ({"vector_db": {"x": "{{ parameters.nope }}"}}, ["values", "vector_db", "x"]),
        ({"nope": {"x": 1}}, ["values", "nope"]),
        ({"vector_db": [1]}, ["values", "vector_db"]),
    ],
)
def test_a_bad_override_is_refused_with_its_path_before_anything_runs(owner_api, deployed, values, loc):
    response = patch(owner_api, deployed["id"], {"values": values})
    assert response.status_code == 422, response.content
    assert loc in [e["loc"] for e in response.json()["detail"]]
    assert not DeploymentRevision.objects.filter(deployment_id=deployed["id"], status="draft").exists()


def test_another_user_cannot_see_change_or_roll_back_the_revisions(other_api, owner_api, deployed, call):
    pk = deployed["id"]
    before = everything()
    assert other_api.get(f"/api/deployments/{pk}/revisions").status_code == 404
    assert other_api.get(f"/api/deployments/{pk}/revisions/1").status_code == 404
    assert patch(other_api, pk, {"parameters": {"chunk_size": 256}}).status_code == 404
    assert call(other_api.post, f"/api/deployments/{pk}/rollback", {"revision": 1}).status_code == 404
    assert call(other_api.post, f"/api/deployments/{pk}/apply", {"revision": 1}).status_code == 404
    assert other_api.get(f"/api/deployments/{pk}/plan?revision=1").status_code == 404
    assert DeploymentRevision.objects.filter(deployment_id=pk).count() == 1
    assert everything() == before  # no draft, no parameter, no status or revision changed


def test_of_two_concurrent_applies_one_wins_and_the_other_gets_409(owner_api, deployed):
    pk = deployed["id"]
    patch(owner_api, pk, {"values": {"vector_db": {"replicaCount": 2}}})
    # The pipeline is queued after commit and not run here, so the first apply is still in progress.
    first = owner_api.post(f"/api/deployments/{pk}/apply", {}, content_type="application/json")
    second = owner_api.post(f"/api/deployments/{pk}/rollback", {"revision": 1}, content_type="application/json")
    assert first.status_code == 200, first.content
    assert second.status_code == 409
    assert UseCaseDeployment.objects.get(pk=pk).status == "deploying"
    assert list(DeploymentRevision.objects.filter(deployment_id=pk).values_list("number", "status")) == [
        (2, "applying"),
        (1, "succeeded"),
    ]


def test_a_failed_first_install_can_be_edited_then_retried_as_a_new_revision(
    owner_api, create, call, sandbox, settings
):
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-llm")
    created = create()
    pk = created["id"]
    call(owner_api.post, f"/api/deployments/{pk}/start")
    assert owner_api.get(f"/api/deployments/{pk}").json()["status"] == "failed"
    sandbox.standin.controllers.failing_releases.clear()  # the llm release can become ready now
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 20
    assert patch(owner_api, pk, {"parameters": {"chunk_size": 256}}).status_code == 200
    response = call(owner_api.post, f"/api/deployments/{pk}/retry")
    assert response.status_code == 200, response.content
    body = owner_api.get(f"/api/deployments/{pk}").json()
    assert body["status"] == "running"
    assert body["live_revision"] == 2
    kinds = list(DeploymentRevision.objects.filter(deployment_id=pk).values_list("number", "kind", "status"))
    assert kinds == [(2, "repair", "succeeded"), (1, "install", "failed")]


def test_a_stopped_deployment_can_be_started_again_as_a_new_revision(owner_api, deployed, call, sandbox):
    pk, ns = deployed["id"], deployed["namespace"]
    call(owner_api.post, f"/api/deployments/{pk}/stop")
    assert owner_api.get(f"/api/deployments/{pk}").json()["status"] == "stopped"
    response = call(owner_api.post, f"/api/deployments/{pk}/start")
    assert response.status_code == 200, response.content
    body = owner_api.get(f"/api/deployments/{pk}").json()
    assert body["status"] == "running"
    assert body["live_revision"] == 2
    assert qdrant(sandbox.standin, ns)["spec"]["replicas"] == 1
    assert DeploymentRevision.objects.get(deployment_id=pk, number=2).kind == "restart"
