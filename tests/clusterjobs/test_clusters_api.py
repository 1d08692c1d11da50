import logging

import pytest

from clusterjobs.models import Cluster
from tests.clusterjobs.conftest import SECRET_TOKEN, make_kubeconfig
from tests.dbstate import stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cluster_adder")]


def _post_cluster(client, **body):
    return client.post("/api/clusters", body, content_type="application/json")


def test_it_registers_a_cluster_and_stores_the_kubeconfig_encrypted(owner, owner_api, caplog):
    caplog.set_level(logging.DEBUG)
    kubeconfig = make_kubeconfig(server="https://k8s.example.com:6443")

    response = _post_cluster(owner_api, name="prod", kubeconfig=kubeconfig, ingress_url="https://apps.example.com")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "prod"
    assert body["server_url"] == "https://k8s.example.com:6443"
    assert "kubeconfig" not in body
    assert SECRET_TOKEN not in response.content.decode()
    cluster = Cluster.objects.get(pk=body["id"])
    assert cluster.owner == owner
    assert SECRET_TOKEN.encode() not in bytes(cluster.kubeconfig_encrypted)
    assert cluster.kubeconfig == kubeconfig
    assert SECRET_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("kubeconfig", "message"),
    [
        ("clusters: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
        (make_kubeconfig().replace("current-context: dev", ""), "no current-context"),
        (make_kubeconfig().replace("current-context: dev", "current-context: nope"), "'nope'"),
        (make_kubeconfig().replace("server: https://127.0.0.1:1", "insecure-skip-tls-verify: true"), "no server"),
        (make_kubeconfig().replace(f"token: {SECRET_TOKEN}", "exec: {command: /bin/sh, apiVersion: v1}"), "exec"),
        (make_kubeconfig(**{"certificate-authority": "/etc/passwd"}), "refers to a file"),
    ],
)
def test_it_refuses_a_kubeconfig_it_cannot_use_with_422(owner_api, kubeconfig, message):
    response = _post_cluster(owner_api, name="bad", kubeconfig=kubeconfig)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["kubeconfig"]
    assert message in detail[0]["msg"]
    assert SECRET_TOKEN not in response.content.decode()
    assert not Cluster.objects.exists()


def test_it_refuses_a_second_cluster_with_the_same_name(owner_api, cluster):
    response = _post_cluster(owner_api, name="prod", kubeconfig=make_kubeconfig())

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["name"]
    assert Cluster.objects.count() == 1


def test_it_lists_only_the_callers_clusters_and_staff_see_all(owner_api, other_api, staff_api, cluster):
    assert [c["name"] for c in owner_api.get("/api/clusters").json()["items"]] == ["prod"]
    assert other_api.get("/api/clusters").json()["items"] == []
    assert [c["id"] for c in staff_api.get("/api/clusters").json()["items"]] == [str(cluster.pk)]
    for client in (owner_api, staff_api):
        assert SECRET_TOKEN not in client.get("/api/clusters").content.decode()


def test_it_hides_another_users_cluster_with_404(other_api, cluster):
    before = stored(cluster)
    assert other_api.get(f"/api/clusters/{cluster.pk}").status_code == 404
    assert other_api.get(f"/api/clusters/{cluster.pk}/health").status_code == 404
    assert other_api.delete(f"/api/clusters/{cluster.pk}").status_code == 404
    assert stored(cluster) == before


def test_it_shows_and_deletes_the_owners_cluster(owner_api, cluster):
    detail = owner_api.get(f"/api/clusters/{cluster.pk}")
    assert detail.status_code == 200
    assert detail.json()["ingress_url"] == "https://apps.example.com"
    assert SECRET_TOKEN not in detail.content.decode()

    assert owner_api.delete(f"/api/clusters/{cluster.pk}").status_code == 204
    assert not Cluster.objects.filter(pk=cluster.pk).exists()


def test_it_reports_an_unreachable_cluster_as_unhealthy_without_leaking_credentials(owner, owner_api):
    kubeconfig = make_kubeconfig(server="https://127.0.0.1:1")
    cluster_id = _post_cluster(owner_api, name="gone", kubeconfig=kubeconfig).json()["id"]

    response = owner_api.get(f"/api/clusters/{cluster_id}/health")

    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is False
    assert body["server_version"] is None
    assert "unreachable" in body["error"]
    assert "127.0.0.1:1" in body["error"]
    assert SECRET_TOKEN not in response.content.decode()


def test_it_never_shows_the_kubeconfig_in_str_or_repr(cluster):
    assert SECRET_TOKEN not in str(cluster)
    assert SECRET_TOKEN not in repr(cluster)


def test_it_never_renders_the_kubeconfig_on_the_admin_change_page(staff, cluster, client):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)

    page = client.get(f"/admin/clusterjobs/cluster/{cluster.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "prod" in html
    assert SECRET_TOKEN not in html
    assert "dev-cluster" not in html


def test_it_registers_the_sandbox_cluster_once_and_updates_it_in_place(owner, kube_standin):
    from clusterjobs import services

    first = services.cluster_register_sandbox(url=kube_standin.url, kubeconfig=kube_standin.kubeconfig(), owner=owner)
    again = services.cluster_register_sandbox(
        url=kube_standin.url, owner=owner, kubeconfig=kube_standin.kubeconfig(namespace="uc-0a1b2c3d")
    )

    assert again.pk == first.pk
    assert Cluster.objects.filter(owner=owner).count() == 1
    assert again.is_sandbox
    assert again.name == "sandbox"
    assert again.server_url == kube_standin.url
    assert "uc-0a1b2c3d" in Cluster.objects.get(pk=first.pk).kubeconfig
    assert str(again) == "sandbox (sandbox)"


def _superuser_client(staff, client):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    return client


def test_it_adds_a_cluster_in_the_admin_and_stores_the_pasted_kubeconfig_encrypted(staff, owner, client):
    admin = _superuser_client(staff, client)
    kubeconfig = make_kubeconfig(server="https://k8s.example.com")

    response = admin.post(
        "/admin/clusterjobs/cluster/add/",
        {
            "name": "from-admin",
            "owner": owner.pk,
            "ingress_url": "",
            "new_kubeconfig": kubeconfig,
            "pod_security_level": "baseline",
            "allowed_cluster_kinds": "[]",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    cluster = Cluster.objects.get(name="from-admin")
    assert cluster.kubeconfig == kubeconfig
    assert cluster.server_url == "https://k8s.example.com"


def test_it_refuses_a_bad_kubeconfig_in_the_admin_without_echoing_it(staff, owner, client):
    admin = _superuser_client(staff, client)
    bad = make_kubeconfig().replace("current-context: dev", "current-context: missing")

    response = admin.post("/admin/clusterjobs/cluster/add/", {"name": "bad", "owner": owner.pk, "new_kubeconfig": bad})

    assert response.status_code == 200
    assert "is not among the kubeconfig" in response.content.decode()
    assert SECRET_TOKEN not in response.content.decode()
    assert not Cluster.objects.exists()


def test_it_keeps_the_stored_kubeconfig_when_the_admin_leaves_the_field_empty(staff, cluster, client):
    admin = _superuser_client(staff, client)
    before = cluster.kubeconfig

    response = admin.post(
        f"/admin/clusterjobs/cluster/{cluster.pk}/change/",
        {
            "name": "renamed",
            "owner": cluster.owner.pk,
            "ingress_url": "",
            "new_kubeconfig": "",
            "pod_security_level": "baseline",
            "allowed_cluster_kinds": "[]",
        },
    )

    assert response.status_code == 302
    cluster.refresh_from_db()
    assert cluster.name == "renamed"
    assert cluster.kubeconfig == before
