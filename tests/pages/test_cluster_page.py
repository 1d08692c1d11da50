"""Clusters: a warning when an unreachable one is added, health in the wizard's choice with dead clusters not
first, and a page per cluster with its deployments, namespaces and health."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from clusterjobs import services as cluster_services
from clusterjobs.models import Cluster
from tests.clusterjobs.conftest import make_kubeconfig
from usecases.services.deployments import deployment_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cluster_adder")]


@pytest.fixture(autouse=True)
def _fresh_health_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_warns_when_an_unreachable_cluster_is_added(owner_browser, owner):
    response = owner_browser.post(
        reverse("clusterjobs:cluster-list"),
        {"name": "dead", "kubeconfig": make_kubeconfig(server="https://127.0.0.1:1")},
        follow=True,
    )
    html = response.content.decode()
    assert Cluster.objects.filter(owner=owner, name="dead").exists()
    assert "was added, but its API server is not reachable now" in html
    assert "Cluster dead added." not in html


def test_it_does_not_offer_a_dead_cluster_first_in_the_wizard(owner_browser, owner, catalog, sandbox):
    dead = cluster_services.cluster_create(owner=owner, name="aaa-dead", kubeconfig=make_kubeconfig())
    cluster_services.cluster_health(cluster=dead)
    cluster_services.cluster_health(cluster=sandbox)
    html = owner_browser.get(reverse("usecases:deployment-create"), {"template": "agent-rag"}).content.decode()
    select = html.split('name="cluster_id"')[1].split("</select>")[0]
    assert select.index("sandbox") < select.index("aaa-dead")
    assert "aaa-dead — unreachable when last checked" in select
    assert f'value="{sandbox.pk}" selected' in select
    assert f'hx-get="/clusters/{sandbox.pk}/health"' in html


def test_it_shows_a_cluster_page_with_its_deployments_namespaces_and_health(
    owner_browser, other_browser, owner, catalog, sandbox
):
    deployment = deployment_create(owner=owner, name="on-sandbox", template="agent-rag", cluster_id=sandbox.pk)
    html = owner_browser.get(f"/clusters/{sandbox.pk}/").content.decode()
    assert "on-sandbox" in html
    assert f"<code>{deployment.namespace}</code>" in html
    assert f'hx-get="/clusters/{sandbox.pk}/health"' in html
    assert f'href="/clusters/{sandbox.pk}/"' in owner_browser.get(reverse("clusterjobs:cluster-list")).content.decode()
    assert other_browser.get(f"/clusters/{sandbox.pk}/").status_code == 404
