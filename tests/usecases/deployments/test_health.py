"""Health, drift and the resource tree of a deployed agent-rag on the sandbox (the real helm against the
Kubernetes API stand-in, a contract fake: nothing runs; its switches make Pods crash-loop, delete objects out
of band, ...)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from clusterjobs.models import Cluster
from clusterjobs.standin.discovery import resource_for_kind
from pipelines.models import Event, Notification
from tests.clusterjobs.conftest import make_kubeconfig
from tests.dbstate import everything
from usecases.models import DeploymentHealth, UseCaseDeployment
from usecases.services.health import HEALTH_CHANGED, component_resync, deployment_check_health

pytestmark = pytest.mark.django_db

LLM_DEPLOYMENT = "my-rag-llm-vllm"


@pytest.fixture
def deployed(owner_api, create, call) -> UseCaseDeployment:
    created = create()
    assert call(owner_api.post, f"/api/deployments/{created['id']}/start").status_code == 200
    deployment = UseCaseDeployment.objects.get(pk=created["id"])
    assert deployment.status == "running"
    return deployment


def component(row: DeploymentHealth, name: str) -> dict:
    return next(c for c in row.components if c["name"] == name)


def node(objects: list[dict], kind: str, name: str | None = None) -> dict:
    return next(o for o in objects if o["kind"] == kind and (name is None or o["name"] == name))


def bad_notes(owner) -> list[str]:
    return list(Notification.objects.filter(user=owner, level="error").values_list("message", flat=True))


def test_it_shows_each_components_objects_with_their_owned_replicasets_and_pods(deployed, owner_api):
    row = deployment_check_health(deployment=deployed)

    assert (row.health, row.sync, row.reason) == ("Healthy", "Synced", "")
    llm = component(row, "llm")
    assert (llm["release"], llm["health"], llm["sync"]) == ("my-rag-llm", "Healthy", "Synced")
    dep = node(llm["objects"], "Deployment", LLM_DEPLOYMENT)
    assert dep["message"] == "1/1 replicas ready"
    [replicaset] = dep["children"]
    assert replicaset["kind"] == "ReplicaSet"
    assert replicaset["name"].startswith(LLM_DEPLOYMENT)
    [pod] = replicaset["children"]
    assert (pod["kind"], pod["health"]) == ("Pod", "Healthy")
    assert node(llm["objects"], "Service")["health"] == "Healthy"
    assert node(component(row, "vector_db")["objects"], "PersistentVolumeClaim")["message"] == "bound"

    body = owner_api.get(f"/api/deployments/{deployed.pk}/resources").json()
    assert body["health"] == "Healthy"
    assert {c["name"] for c in body["components"]} == {
        "llm",
        "vector_db",
        "agent_runtime",
    }


def test_a_pod_that_crash_loops_after_install_degrades_the_deployment_and_notifies_once(deployed, sandbox, owner):
    deployment_check_health(deployment=deployed)
    sandbox.standin.crash_loop(deployed.namespace, LLM_DEPLOYMENT)

    row = deployment_check_health(deployment=deployed)
    deployment_check_health(deployment=deployed)  # the next sweep: still Degraded, nobody is told twice

    assert row.health == "Degraded"
    assert component(row, "llm")["health"] == "Degraded"
    assert component(row, "vector_db")["health"] == "Healthy"
    [note] = bad_notes(owner)
    assert note.startswith("Use case 'my-rag' is Degraded: llm: Pod my-rag-llm-vllm-")
    assert "CrashLoopBackOff" in note
    pod = node(node(component(row, "llm")["objects"], "Deployment")["children"], "ReplicaSet")["children"][0]
    assert pod["events"] == ["BackOff: Back-off restarting failed container"]  # the kubelet's word for it
    changes = Event.objects.filter(deployment_id=deployed.pk, type=HEALTH_CHANGED)
    assert [e.payload["health"] for e in changes] == ["Healthy", "Degraded"]

    sandbox.standin.heal(deployed.namespace, LLM_DEPLOYMENT)
    assert deployment_check_health(deployment=deployed).health == "Healthy"
    sandbox.standin.crash_loop(deployed.namespace, LLM_DEPLOYMENT)
    deployment_check_health(deployment=deployed)
    assert len(bad_notes(owner)) == 2  # a new failure after recovering is news again


def test_an_object_deleted_out_of_band_is_missing_and_out_of_sync_until_resync_restores_it(
    deployed, sandbox, owner, django_capture_on_commit_callbacks
):
    sandbox.standin.delete_object("Service", deployed.namespace, LLM_DEPLOYMENT)

    row = deployment_check_health(deployment=deployed)

    llm = component(row, "llm")
    assert (row.health, row.sync) == ("Missing", "OutOfSync")
    assert (llm["health"], llm["sync"]) == ("Missing", "OutOfSync")
    assert node(llm["objects"], "Service", LLM_DEPLOYMENT)["health"] == "Missing"
    assert component(row, "agent_runtime")["sync"] == "Synced"
    assert bad_notes(owner) == [
        f"Use case 'my-rag' is Missing: llm: Service {LLM_DEPLOYMENT} is Missing (not on the cluster)"
    ]

    with django_capture_on_commit_callbacks(execute=True):
        job = component_resync(component=deployed.components.get(component_name="llm"))
    job.refresh_from_db()

    assert job.status == "COMPLETED", job.error
    assert sandbox.standin.get("Service", deployed.namespace, LLM_DEPLOYMENT) is not None
    assert (deployment_check_health(deployment=deployed).health, DeploymentHealth.objects.get().sync) == (
        "Healthy",
        "Synced",
    )


def test_it_shows_what_drifted_on_the_fields_the_release_sets(deployed, sandbox):
    store = sandbox.standin.store

    live = sandbox.standin.get("Deployment", deployed.namespace, LLM_DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil/miner:latest"
    store.replace(resource_for_kind("Deployment"), deployed.namespace, LLM_DEPLOYMENT, live)

    row = deployment_check_health(deployment=deployed)

    dep = node(component(row, "llm")["objects"], "Deployment", LLM_DEPLOYMENT)
    assert dep["sync"] == "OutOfSync"
    assert row.sync == "OutOfSync"
    [change] = dep["drift"]
    assert change["path"] == "spec.template.spec.containers.0.image"
    assert change["live"] == "evil/miner:latest"
    # Defaulted and controller-owned fields (clusterIP, status, uid, replicas defaults...) are no drift.
    assert node(component(row, "llm")["objects"], "Service")["sync"] == "Synced"


def test_an_unreachable_cluster_is_unknown_with_the_reason_and_recovers(deployed, sandbox):
    good = sandbox.kubeconfig
    cluster = Cluster.objects.get(pk=sandbox.pk)
    cluster.kubeconfig = make_kubeconfig(server="http://127.0.0.1:9")
    cluster.save()
    deployed.refresh_from_db()

    row = deployment_check_health(deployment=deployed)

    assert (row.health, row.sync) == ("Unknown", "Unknown")
    assert row.reason == "Cluster API unreachable: connection refused"
    assert row.failures == 1
    assert (row.next_check_at - row.checked_at).total_seconds() == 120
    cluster.kubeconfig = good
    cluster.save()
    deployed.refresh_from_db()
    row = deployment_check_health(deployment=deployed)
    assert (row.health, row.reason, row.failures) == ("Healthy", "", 0)


def test_the_page_shows_the_tree_and_refresh_checks_now(deployed, owner_browser, other_user):
    other_browser = Client()
    other_browser.force_login(other_user)
    url = reverse("usecases:deployment-detail", args=[deployed.pk])
    html = owner_browser.get(url).content.decode()
    assert 'id="resources"' in html
    assert "Not checked yet" in html
    assert 'id="refresh-button"' in html

    response = owner_browser.post(
        reverse("usecases:deployment-resources-refresh", args=[deployed.pk]), HTTP_HX_REQUEST="true"
    )

    fragment = response.content.decode()
    assert response.status_code == 200
    assert 'id="deployment-health">Healthy<' in fragment
    assert f'data-kind="Deployment" data-name="{LLM_DEPLOYMENT}" data-health="Healthy"' in fragment
    assert DeploymentHealth.objects.get(deployment=deployed).health == "Healthy"
    before = everything()
    assert other_browser.get(reverse("usecases:deployment-resources", args=[deployed.pk])).status_code == 404
    assert other_browser.post(reverse("usecases:deployment-resources-refresh", args=[deployed.pk])).status_code == 404
    assert everything() == before  # the health row was not checked again


def test_only_the_owner_reads_checks_or_resyncs_and_resync_needs_a_running_component(deployed, other_api, owner_api):
    base = f"/api/deployments/{deployed.pk}"
    assert other_api.get(f"{base}/resources").status_code == 404
    assert other_api.post(f"{base}/resources/refresh").status_code == 404
    assert other_api.post(f"{base}/components/llm/resync").status_code == 404
    assert owner_api.post(f"{base}/components/nope/resync").status_code == 404
    assert not DeploymentHealth.objects.exists()  # nobody else's request checked anything

    deployed.components.filter(component_name="llm").update(status="failed")
    before = everything()
    response = owner_api.post(f"{base}/components/llm/resync")

    assert response.status_code == 409
    assert "running" in response.json()["detail"]
    assert everything() == before  # no job queued, the component still failed


def test_a_deployment_that_is_not_running_is_not_reported_healthy(deployed):
    UseCaseDeployment.objects.filter(pk=deployed.pk).update(status="stopped")
    deployed.refresh_from_db()

    row = deployment_check_health(deployment=deployed)

    assert (row.health, row.reason) == ("Unknown", "the deployment is stopped: health is checked while it runs")
