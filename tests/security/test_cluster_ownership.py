"""Clusters are a permission and can be shared; ids in request bodies must be the caller's.

Registering a cluster makes the portal connect wherever its kubeconfig points (API servers live on private
networks, so the outbound guard cannot apply): it takes ``clusterjobs.add_cluster``. A cluster shared with a
group is usable by its members and managed by its owner only. A job can not be attached to someone else's
deployment or execution, and a cluster cannot be deleted from under deployments that still have releases.
Runs against the Kubernetes API stand-in with the real helm where a cluster must answer.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from budportal.errors import ServiceValidationError
from clusterjobs import services as cluster_services
from clusterjobs.admin import ClusterAdmin
from clusterjobs.models import Cluster, Job
from pipelines.models import Event, StepStatus
from tests.conftest import grant_add_cluster
from tests.pipelines.conftest import dag, step
from tests.security.conftest import KUBECONFIG_TOKEN, kubeconfig
from usecases.services.deployments import deployment_create

pytestmark = pytest.mark.django_db


# --- registering is a permission ----------------------------------------------------------------------
def test_it_refuses_to_register_a_cluster_without_the_permission(owner, owner_api, owner_browser):
    api = owner_api.post("/api/clusters", {"name": "mine", "kubeconfig": kubeconfig()}, content_type="application/json")
    page = owner_browser.post("/clusters/", {"name": "mine", "kubeconfig": kubeconfig()})

    assert api.status_code == 403
    assert "clusterjobs.add_cluster" in api.json()["detail"]
    assert page.status_code == 403
    assert not Cluster.objects.exists()
    assert "Add a cluster" not in owner_browser.get("/clusters/").content.decode()


def test_it_registers_clusters_for_users_granted_the_permission_and_staff(owner, owner_api, staff_api):
    grant_add_cluster(owner)

    mine = owner_api.post(
        "/api/clusters", {"name": "mine", "kubeconfig": kubeconfig()}, content_type="application/json"
    )
    staffs = staff_api.post(
        "/api/clusters", {"name": "staffs", "kubeconfig": kubeconfig()}, content_type="application/json"
    )

    assert (mine.status_code, staffs.status_code) == (201, 201)
    assert set(Cluster.objects.values_list("name", flat=True)) == {"mine", "staffs"}


def test_the_admin_lets_only_cluster_adders_add(owner, staff):
    admin = ClusterAdmin(Cluster, site)
    request = RequestFactory().get("/admin/clusterjobs/cluster/add/")
    request.user = owner
    assert admin.has_add_permission(request) is False
    request.user = staff
    assert admin.has_add_permission(request) is True


# --- sharing with groups ---------------------------------------------------------------------------------
@pytest.fixture
def team(owner, other_user) -> Group:
    group = Group.objects.create(name="ml-team")
    group.user_set.add(owner, other_user)
    return group


@pytest.fixture
def shared(owner, team, kube_standin) -> Cluster:
    cluster = cluster_services.cluster_create(
        owner=owner, name="team-cluster", kubeconfig=kube_standin.kubeconfig(), shared_with_groups=[team.pk]
    )
    cluster.standin = kube_standin
    return cluster


def test_a_group_member_can_use_a_shared_cluster_but_not_change_it(shared, other_api, other_user, catalog):
    listed = other_api.get("/api/clusters").json()["items"]
    health = other_api.get(f"/api/clusters/{shared.pk}/health")
    deployment = other_api.post(
        "/api/deployments",
        {"name": "theirs", "template": "valkey-cache", "cluster_id": str(shared.pk)},
        content_type="application/json",
    )
    delete = other_api.delete(f"/api/clusters/{shared.pk}")
    unshare = other_api.put(
        f"/api/clusters/{shared.pk}/groups", {"shared_with_groups": []}, content_type="application/json"
    )

    assert [c["id"] for c in listed] == [str(shared.pk)]
    assert listed[0]["shared_with_groups"] == [shared.shared_with_groups.get().pk]
    assert health.status_code == 200
    assert health.json()["healthy"] is True
    assert deployment.status_code == 201, deployment.content
    assert (delete.status_code, unshare.status_code) == (403, 403)
    assert Cluster.objects.get(pk=shared.pk).shared_with_groups.count() == 1
    for answer in (listed, health.json(), deployment.json()):
        assert "kube-standin" not in str(answer)
        assert KUBECONFIG_TOKEN not in str(answer)


def test_a_shared_cluster_runs_the_members_pipeline_steps_and_nobody_elses(shared, run, other_user, django_user_model):
    outsider = django_user_model.objects.create_user("outsider", "o@example.com", "pw-outsider-123")
    health_dag = dag(step("health", "cluster_health", params={"cluster_id": str(shared.pk)}))

    member = run(health_dag, user=other_user).steps.get()
    with pytest.raises(ServiceValidationError) as refused:
        run(health_dag, user=outsider)
    late = run(
        dag(step("health", "cluster_health", params={"cluster_id": "{{ '" + str(shared.pk) + "' }}"})), user=outsider
    ).steps.get()

    assert member.status == StepStatus.COMPLETED, member.error
    assert refused.value.errors[0]["loc"] == ["steps", 0, "params", "cluster_id"]
    assert late.status == StepStatus.FAILED
    assert "not found" in late.error


def test_the_clusters_page_shows_a_shared_cluster_without_its_delete_button(shared, other_user, owner):
    member = Client()
    member.force_login(other_user)

    page = member.get("/clusters/").content.decode()
    delete = member.post(f"/clusters/{shared.pk}/delete", follow=True).content.decode()

    assert "team-cluster" in page
    assert "shared with you by owner" in page
    assert f"/clusters/{shared.pk}/delete" not in page
    assert "only the cluster&#x27;s owner can change or delete it" in delete
    assert Cluster.objects.filter(pk=shared.pk).exists()


def test_the_owner_shares_only_with_their_own_groups(owner_api, shared):
    foreign = Group.objects.create(name="not-mine")

    response = owner_api.put(
        f"/api/clusters/{shared.pk}/groups", {"shared_with_groups": [foreign.pk]}, content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "shared_with_groups"
    assert list(shared.shared_with_groups.all()) == list(Group.objects.filter(name="ml-team"))


def test_a_group_is_not_unshared_while_a_members_deployment_runs_on_the_cluster(
    owner_api, shared, other_user, catalog, deploy_settings, call
):
    other_deployment = deployment_create(owner=other_user, name="theirs", template="valkey-cache", cluster_id=shared.pk)
    from usecases.models.deployments import UseCaseDeployment

    UseCaseDeployment.objects.filter(pk=other_deployment.pk).update(status="running")

    response = owner_api.put(
        f"/api/clusters/{shared.pk}/groups", {"shared_with_groups": []}, content_type="application/json"
    )

    assert response.status_code == 409
    assert "theirs (running)" in response.json()["detail"]
    assert shared.shared_with_groups.count() == 1


# --- deleting a cluster under deployments -------------------------------------------------------------
@pytest.fixture
def running(owner, owner_api, kube_standin, deploy_settings, catalog, call):
    grant_add_cluster(owner)
    cluster = owner_api.post(
        "/api/clusters", {"name": "sb", "kubeconfig": kube_standin.kubeconfig()}, content_type="application/json"
    ).json()
    created = owner_api.post(
        "/api/deployments",
        {"name": "shop", "template": "valkey-cache", "cluster_id": cluster["id"]},
        content_type="application/json",
    )
    call(owner_api.post, f"/api/deployments/{created.json()['id']}/start")
    deployment = owner_api.get(f"/api/deployments/{created.json()['id']}").json()
    assert deployment["status"] == "running", deployment
    return cluster, deployment


def test_it_refuses_to_delete_a_cluster_under_a_running_deployment(owner_api, running, kube_standin, call):
    cluster, deployment = running
    namespace = deployment["namespace"]
    assert kube_standin.objects("Service", namespace=namespace)

    refused = owner_api.delete(f"/api/clusters/{cluster['id']}")

    assert refused.status_code == 409
    assert "shop (running)" in refused.json()["detail"]
    assert Cluster.objects.filter(pk=cluster["id"]).exists()
    # The deployment can still be stopped (its releases uninstalled); then the cluster can go.
    stopped = call(owner_api.post, f"/api/deployments/{deployment['id']}/stop")
    assert stopped.status_code == 200, stopped.content
    assert owner_api.get(f"/api/deployments/{deployment['id']}").json()["status"] == "stopped"
    assert kube_standin.objects("Service", namespace=namespace) == []
    assert owner_api.delete(f"/api/clusters/{cluster['id']}").status_code == 204
    assert not Cluster.objects.filter(pk=cluster["id"]).exists()


def test_the_clusters_page_says_why_it_cannot_delete(owner_browser, running):
    cluster, _ = running

    page = owner_browser.post(f"/clusters/{cluster['id']}/delete", follow=True)

    assert "shop (running)" in page.content.decode()
    assert Cluster.objects.filter(pk=cluster["id"]).exists()


# --- references in job bodies ---------------------------------------------------------------------------
@pytest.fixture
def others_cluster(other_user) -> Cluster:
    return cluster_services.cluster_create(owner=other_user, name="theirs", kubeconfig=kubeconfig())


def _job(api, cluster: Cluster, **extra):
    config = {"chart_ref": "charts/valkey", "release_name": "evil", "namespace": "uc-0123abcd"}
    config.update(extra.pop("config", {}))
    return api.post(
        "/api/jobs",
        {"job_type": "helm_deploy", "cluster_id": str(cluster.pk), "config": config, **extra},
        content_type="application/json",
    )


def test_it_refuses_a_job_attached_to_another_users_deployment_or_execution(owned, other_api, others_cluster):
    answers = {
        "source_id=deployment": _job(other_api, others_cluster, source_id=owned["deployment_id"]),
        "source_id=execution": _job(other_api, others_cluster, source_id=owned["execution_id"]),
        "source_id=DEPLOYMENT": _job(other_api, others_cluster, source_id=owned["deployment_id"].upper()),
        "config.deployment_id": _job(other_api, others_cluster, config={"deployment_id": owned["deployment_id"]}),
        "config.execution_id": _job(other_api, others_cluster, config={"execution_id": owned["execution_id"]}),
        "cluster_id": _job(other_api, Cluster.objects.get(pk=owned["cluster_id"])),
    }

    assert {name: a.status_code for name, a in answers.items()} == {
        "source_id=deployment": 422,
        "source_id=execution": 422,
        "source_id=DEPLOYMENT": 422,
        "config.deployment_id": 422,
        "config.execution_id": 422,
        "cluster_id": 404,
    }
    assert answers["config.deployment_id"].json()["detail"][0]["loc"][-2:] == ["config", "deployment_id"]
    assert Job.objects.filter(cluster=others_cluster).count() == 0


def test_it_accepts_a_job_naming_the_callers_own_deployment(owned, owner_api):
    response = _job(
        owner_api,
        Cluster.objects.get(pk=owned["cluster_id"]),
        source_id=owned["deployment_id"].upper(),
        config={"deployment_id": owned["deployment_id"]},
    )

    assert response.status_code == 201, response.content
    assert response.json()["source_id"] == owned["deployment_id"]  # canonical, as the deployment's stop matches it


def test_a_pipeline_step_cannot_attach_its_job_to_another_users_deployment(
    owned, other_user, other_api, others_cluster, run
):
    params = {
        "cluster_id": str(others_cluster.pk),
        "chart_ref": "charts/valkey",
        "release_name": "evil",
        "deployment_id": owned["deployment_id"],
    }
    submitted = other_api.post(
        "/api/executions", dag(step("deploy", "helm_deploy", params=params)), content_type="application/json"
    )
    late = run(
        dag(
            step("deploy", "helm_deploy", params={**params, "deployment_id": "{{ '" + owned["deployment_id"] + "' }}"})
        ),
        user=other_user,
    ).steps.get()

    assert submitted.status_code == 422
    assert submitted.json()["detail"][0]["loc"][-4:] == ["steps", 0, "params", "deployment_id"]
    assert late.status == StepStatus.FAILED
    assert "no deployment" in late.error
    assert not Job.objects.filter(owner=other_user).exists()
    assert not Event.objects.filter(deployment_id=owned["deployment_id"], type__startswith="job_").exists()
