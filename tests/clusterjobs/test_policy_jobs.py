"""The cluster's policy settings, as jobs, the API and the admin see them (real helm against the stand-in:
a contract fake, nothing runs)."""

import pytest

from clusterjobs.models import Cluster, JobStatus
from tests.clusterjobs.test_policy_proxy import CLUSTER_OBJECTS, INJECTED_IMAGE

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


def test_it_installs_the_bundled_charts_on_a_restricted_cluster(sandbox, run_job):
    Cluster.objects.filter(pk=sandbox.pk).update(pod_security_level="restricted")

    job = run_job(sandbox, chart_ref="charts/qdrant", release_name="db", namespace=NS)

    assert job.status == JobStatus.COMPLETED, job.error


def test_it_refuses_a_chart_below_restricted_on_a_restricted_cluster(sandbox, run_job, test_charts):
    Cluster.objects.filter(pk=sandbox.pk).update(pod_security_level="restricted")

    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)

    assert job.status == JobStatus.FAILED
    assert "Deployment/web: spec.template.spec.containers[0].securityContext.runAsNonRoot: must be true" in job.error
    assert sandbox.standin.get("Deployment", NS, "web") is None


def test_the_same_chart_installs_on_a_baseline_cluster(sandbox, run_job, test_charts):
    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)

    assert job.status == JobStatus.COMPLETED, job.error


def test_it_fails_the_job_with_a_readable_reason_for_an_injected_object(sandbox, run_job, test_charts):
    job = run_job(
        sandbox, chart_ref="charts/unquoted", release_name="web", namespace=NS, values={"image": INJECTED_IMAGE}
    )

    assert job.status == JobStatus.FAILED
    assert "ClusterRoleBinding/pwn: cluster-scoped ClusterRoleBinding is not allowed on this cluster" in job.error
    assert "Deployment/kube-system/miner: metadata.namespace 'kube-system' is outside" in job.error
    assert "containers[0].securityContext.privileged: True" in job.error
    assert sandbox.standin.objects("ClusterRoleBinding") == []
    assert sandbox.standin.objects("Deployment", "kube-system") == []


def test_it_lets_a_job_write_the_cluster_scoped_kinds_its_cluster_allows(sandbox, run_job, test_charts):
    objects = {"objects": [CLUSTER_OBJECTS[1]]}  # a ClusterRole
    refused = run_job(sandbox, chart_ref="charts/objects", release_name="roles", namespace=NS, values=objects)
    Cluster.objects.filter(pk=sandbox.pk).update(allowed_cluster_kinds=["ClusterRole"])
    sandbox.refresh_from_db()

    allowed = run_job(sandbox, chart_ref="charts/objects", release_name="roles", namespace=NS, values=objects)

    assert refused.status == JobStatus.FAILED
    assert "cluster-scoped ClusterRole is not allowed" in refused.error
    assert allowed.status == JobStatus.COMPLETED, allowed.error
    assert sandbox.standin.get("ClusterRole", None, "all") is not None


def test_the_proxy_refuses_a_lookup_the_rendered_chart_never_showed(sandbox, run_job, test_charts):
    job = run_job(
        sandbox,
        chart_ref="charts/objects",
        release_name="spy",
        namespace=NS,
        values={"lookupSecret": {"namespace": "kube-system", "name": "admin-token"}},
    )

    assert job.status == JobStatus.FAILED
    assert "refused by the portal's policy: Secret kube-system/admin-token is outside" in job.error
    assert sandbox.standin.get("ConfigMap", NS, "spy-copied") is None


# ---- API and admin -------------------------------------------------------------------------------------------


def test_the_api_shows_the_policy_but_does_not_let_the_owner_set_it(cluster_adder, owner_api):
    from tests.clusterjobs.conftest import make_kubeconfig

    response = owner_api.post(
        "/api/clusters",
        {
            "name": "mine",
            "kubeconfig": make_kubeconfig(),
            "pod_security_level": "privileged",
            "allowed_cluster_kinds": ["ClusterRoleBinding"],
        },
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["pod_security_level"] == "baseline"
    assert body["allowed_cluster_kinds"] == []
    cluster = Cluster.objects.get(pk=body["id"])
    assert cluster.pod_security_level == "baseline"
    assert cluster.allowed_cluster_kinds == []


def _admin(staff, client):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    return client


def test_staff_set_the_level_and_allowed_kinds_in_the_admin(staff, cluster, client):
    response = _admin(staff, client).post(
        f"/admin/clusterjobs/cluster/{cluster.pk}/change/",
        {
            "name": cluster.name,
            "owner": cluster.owner.pk,
            "ingress_url": "",
            "new_kubeconfig": "",
            "pod_security_level": "restricted",
            "allowed_cluster_kinds": '["ClusterRole", "StorageClass.storage.k8s.io"]',
        },
    )

    assert response.status_code == 302, response.content.decode()[:1000]
    cluster.refresh_from_db()
    assert cluster.pod_security_level == "restricted"
    assert cluster.allowed_cluster_kinds == ["ClusterRole", "StorageClass.storage.k8s.io"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pod_security_level", "privileged", "Select a valid choice"),
        ("allowed_cluster_kinds", '["cluster role"]', "is not a Kubernetes kind"),
        ("allowed_cluster_kinds", '{"ClusterRole": true}', "Enter a list"),
    ],
)
def test_the_admin_refuses_a_bad_policy_setting(staff, cluster, client, field, value, message):
    data = {
        "name": cluster.name,
        "owner": cluster.owner.pk,
        "ingress_url": "",
        "new_kubeconfig": "",
        "pod_security_level": "baseline",
        "allowed_cluster_kinds": "[]",
        field: value,
    }

    response = _admin(staff, client).post(f"/admin/clusterjobs/cluster/{cluster.pk}/change/", data)

    assert response.status_code == 200
    assert message in response.content.decode()
    cluster.refresh_from_db()
    assert cluster.pod_security_level == "baseline"
    assert cluster.allowed_cluster_kinds == []
