import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clusterjobs.models import Cluster
from tests.dbstate import stored
from tests.pages.conftest import htmx

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cluster_adder")]


def test_it_adds_a_cluster_from_a_pasted_kubeconfig(owner_browser, owner, kube_standin):
    response = owner_browser.post(
        reverse("clusterjobs:cluster-list"), {"name": "lab", "kubeconfig": kube_standin.kubeconfig()}
    )
    assert response.status_code == 302
    cluster = Cluster.objects.get(owner=owner, name="lab")
    assert cluster.server_url == kube_standin.url
    page = owner_browser.get(reverse("clusterjobs:cluster-list")).content.decode()
    assert "lab" in page
    assert "Cluster lab added" in page
    assert "client-key-data" not in page
    assert kube_standin.kubeconfig()[:200] not in page


def test_it_adds_a_cluster_from_an_uploaded_kubeconfig(owner_browser, owner, kube_standin):
    upload = SimpleUploadedFile("config", kube_standin.kubeconfig().encode(), content_type="application/yaml")
    response = owner_browser.post(reverse("clusterjobs:cluster-list"), {"name": "up", "kubeconfig_file": upload})
    assert response.status_code == 302
    assert Cluster.objects.filter(owner=owner, name="up").exists()


def test_it_shows_why_a_kubeconfig_is_refused(owner_browser, owner):
    response = owner_browser.post(
        reverse("clusterjobs:cluster-list"), {"name": "bad", "kubeconfig": "not: [a kubeconfig"}
    )
    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert not Cluster.objects.filter(owner=owner).exists()


def test_it_renders_the_health_badge_fragment(owner_browser, sandbox):
    response = owner_browser.get(reverse("clusterjobs:cluster-health", args=[sandbox.pk]), **htmx())
    html = response.content.decode()
    assert response.status_code == 200
    assert "healthy" in html
    assert "<html" not in html


def test_it_shows_an_unreachable_cluster_as_unhealthy(owner_browser, sandbox, kube_standin):
    kube_standin.stop()
    html = owner_browser.get(reverse("clusterjobs:cluster-health", args=[sandbox.pk]), **htmx()).content.decode()
    assert "unreachable" in html


def test_it_hides_another_users_cluster(other_browser, sandbox):
    before = stored(sandbox)
    assert f"cluster-{sandbox.pk}" not in other_browser.get(reverse("clusterjobs:cluster-list")).content.decode()
    assert other_browser.get(reverse("clusterjobs:cluster-health", args=[sandbox.pk])).status_code == 404
    assert other_browser.post(reverse("clusterjobs:cluster-delete", args=[sandbox.pk])).status_code == 404
    assert stored(sandbox) == before


def test_it_deletes_a_cluster(owner_browser, sandbox):
    assert owner_browser.post(reverse("clusterjobs:cluster-delete", args=[sandbox.pk])).status_code == 302
    assert not Cluster.objects.filter(pk=sandbox.pk).exists()


def test_it_enforces_csrf_when_adding_a_cluster(csrf_browser, owner, kube_standin):
    response = csrf_browser.post(
        reverse("clusterjobs:cluster-list"), {"name": "x", "kubeconfig": kube_standin.kubeconfig()}
    )
    assert response.status_code == 403
    assert not Cluster.objects.filter(owner=owner).exists()
