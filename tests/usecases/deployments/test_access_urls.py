"""Access URLs end to end: a template component declares ``access``; the running deployment records and shows
its URL, stop removes the route, ``retry-gateway`` re-creates it. On the Kubernetes API stand-in."""

from __future__ import annotations

import pytest

from clusterjobs.kube import KubeClient
from clusterjobs.kubeconfig import parse_kubeconfig
from tests.dbstate import everything
from tests.usecases.deployments.conftest import components
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db

TEMPLATE = {
    "name": "web-ui",
    "display_name": "Web UI",
    "components": [
        {
            "name": "ui",
            "type": "helm",
            "chart": {"ref": "charts/agent-runtime", "values": {"port": 8080}},
            "access": {"port": 8080, "path": "/chat", "kind": "ui"},
            "helm": {"timeout_seconds": 120, "delete_on_failure": True},
        }
    ],
}


@pytest.fixture
def gateway(sandbox):
    sandbox.access_base_domain = "apps.example.com"
    sandbox.gateway_class = "nginx"
    sandbox.gateway_namespace = "ingress-nginx"
    sandbox.save()
    return sandbox


@pytest.fixture
def running(owner_api, gateway, call) -> dict:
    assert owner_api.post("/api/templates", TEMPLATE, content_type="application/json").status_code == 201
    body = {"name": "shop", "template": "web-ui", "cluster_id": str(gateway.pk)}
    created = owner_api.post("/api/deployments", body, content_type="application/json").json()
    response = call(owner_api.post, f"/api/deployments/{created['id']}/start")
    assert response.status_code == 200, response.content
    return owner_api.get(f"/api/deployments/{created['id']}").json()


def test_it_records_and_publishes_the_access_url_of_a_running_deployment(running, gateway):
    ns = running["namespace"]
    url = f"https://shop-ui-{ns}.apps.example.com/chat"

    assert running["status"] == "running", running
    assert running["access_urls"] == [{"component": "ui", "url": url, "kind": "ui"}]
    assert running["components"][0]["access_url"] == url
    ingress = gateway.standin.get("Ingress", ns, "shop-ui-access")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"number": 8080}
    assert gateway.standin.get("NetworkPolicy", ns, "budportal-isolation") is not None
    assert components(running["id"])["ui"].outputs["access_url"] == url


def test_it_shows_the_access_url_as_a_real_link_on_the_page(running, owner_browser):
    page = owner_browser.get(f"/deployments/{running['id']}/").content.decode()

    url = running["access_urls"][0]["url"]
    assert f'<a href="{url}"' in page
    assert 'class="access-url"' in page


def test_it_removes_the_route_on_stop_and_forgets_the_url(running, owner_api, call, gateway):
    response = call(owner_api.post, f"/api/deployments/{running['id']}/stop")

    assert response.status_code == 200
    after = owner_api.get(f"/api/deployments/{running['id']}").json()
    assert after["status"] == "stopped"
    assert after["access_urls"] == []
    assert gateway.standin.get("Ingress", running["namespace"], "shop-ui-access") is None
    assert UseCaseDeployment.objects.get(pk=running["id"]).status == "stopped"
    assert components(running["id"])["ui"].status == "stopped"  # which hides its URL (outputs keep the last one)


def test_it_re_creates_a_deleted_route_on_retry_gateway(running, owner_api, other_api, gateway):
    ns = running["namespace"]
    client = KubeClient(parse_kubeconfig(gateway.kubeconfig))
    assert client.delete(f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/shop-ui-access")

    before = everything()
    assert other_api.post(f"/api/deployments/{running['id']}/retry-gateway").status_code == 404
    assert everything() == before
    assert gateway.standin.get("Ingress", ns, "shop-ui-access") is None  # another user's retry did nothing
    response = owner_api.post(f"/api/deployments/{running['id']}/retry-gateway")

    assert response.status_code == 200, response.content
    assert gateway.standin.get("Ingress", ns, "shop-ui-access") is not None
    assert components(running["id"])["ui"].outputs["access_url"] == response.json()["access_urls"][0]["url"]
    assert response.json()["access_urls"][0]["url"].endswith(".apps.example.com/chat")


def test_it_answers_409_to_retry_gateway_unless_running(running, owner_api, call):
    call(owner_api.post, f"/api/deployments/{running['id']}/stop")
    before = everything()

    assert owner_api.post(f"/api/deployments/{running['id']}/retry-gateway").status_code == 409
    assert everything() == before


def test_it_passes_the_components_helm_options_to_its_job(running):
    from clusterjobs.models import Job

    job = Job.objects.get(pk=components(running["id"])["ui"].job_id)
    assert job.config["delete_on_failure"] is True
    assert job.config["timeout"] == 120
    assert job.config["access"] == {"port": 8080, "path": "/chat", "kind": "ui"}


@pytest.mark.parametrize(
    ("access", "loc"),
    [({"port": 70000}, "port"), ({"port": 80, "path": "chat"}, "path"), ({"port": 80, "kind": "admin"}, "kind")],
)
def test_it_refuses_a_bad_access_declaration_in_a_template(owner_api, access, loc):
    doc = {**TEMPLATE, "components": [{**TEMPLATE["components"][0], "access": access}]}

    response = owner_api.post("/api/templates", doc, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == loc
    assert not UseCaseTemplate.objects.filter(name="web-ui").exists()


def test_it_lets_a_deployment_override_a_components_helm_options(owner_api, gateway, call):
    from clusterjobs.models import Job

    assert owner_api.post("/api/templates", TEMPLATE, content_type="application/json").status_code == 201
    body = {
        "name": "shop",
        "template": "web-ui",
        "cluster_id": str(gateway.pk),
        "helm": {"ui": {"timeout_seconds": 300}},
    }
    created = owner_api.post("/api/deployments", body, content_type="application/json")
    assert created.status_code == 201, created.content
    call(owner_api.post, f"/api/deployments/{created.json()['id']}/start")

    job = Job.objects.get(pk=components(created.json()["id"])["ui"].job_id)
    assert job.config["timeout"] == 300
    assert job.config["delete_on_failure"] is True


@pytest.mark.parametrize(
    ("helm", "loc"),
    [({"nope": {}}, ["helm", "nope"]), ({"ui": {"timeout_seconds": 5}}, ["helm", "ui", "timeout_seconds"])],
)
def test_it_refuses_bad_per_deployment_helm_options(owner_api, gateway, helm, loc):
    from usecases.models.deployments import UseCaseDeployment

    assert owner_api.post("/api/templates", TEMPLATE, content_type="application/json").status_code == 201
    body = {"name": "shop", "template": "web-ui", "cluster_id": str(gateway.pk), "helm": helm}

    response = owner_api.post("/api/deployments", body, content_type="application/json")

    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"][-len(loc) :] == loc
    assert not UseCaseDeployment.objects.exists()
