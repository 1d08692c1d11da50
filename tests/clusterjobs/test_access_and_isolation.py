"""Access URLs (Ingress / HTTPRoute), the namespace NetworkPolicy and the Helm options, on the stand-in."""

import pytest

from clusterjobs.models import GatewayKind, JobStatus

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


@pytest.fixture
def gateway_cluster(sandbox):
    sandbox.access_base_domain = "apps.example.com"
    sandbox.gateway_class = "nginx"
    sandbox.gateway_namespace = "ingress-nginx"
    sandbox.save()
    return sandbox


def install(run_job, cluster, **config):
    defaults = {"chart_ref": "charts/demo", "release_name": "web", "namespace": NS, "values": {"port": 9100}}
    return run_job(cluster, **(defaults | config))


def test_it_publishes_an_access_url_with_an_ingress(gateway_cluster, run_job, test_charts):
    job = install(run_job, gateway_cluster, access={"port": 9100, "path": "/ui", "kind": "ui"})

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["access_url"] == f"https://web-{NS}.apps.example.com/ui"
    assert job.result["access_kind"] == "ui"
    ingress = gateway_cluster.standin.get("Ingress", NS, "web-access")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == f"web-{NS}.apps.example.com"
    assert rule["http"]["paths"][0]["path"] == "/ui"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "web", "port": {"number": 9100}}


def test_it_publishes_an_httproute_when_the_cluster_uses_the_gateway_api(gateway_cluster, run_job, test_charts):
    gateway_cluster.gateway_kind = GatewayKind.HTTPROUTE
    gateway_cluster.gateway_class = "shared-gateway"
    gateway_cluster.save()

    job = install(run_job, gateway_cluster, access={"port": 9100, "path": "/", "kind": "api"})

    assert job.status == JobStatus.COMPLETED, job.error
    route = gateway_cluster.standin.get("HTTPRoute", NS, "web-access")
    assert route["spec"]["parentRefs"] == [{"name": "shared-gateway", "namespace": "ingress-nginx"}]
    assert route["spec"]["hostnames"] == [f"web-{NS}.apps.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "web", "port": 9100}]
    assert job.result["access_url"] == f"https://web-{NS}.apps.example.com/"
    assert gateway_cluster.standin.get("Ingress", NS, "web-access") is None


def test_it_fails_the_job_when_no_service_has_the_access_port(gateway_cluster, run_job, test_charts):
    job = install(run_job, gateway_cluster, access={"port": 1234, "path": "/", "kind": "ui"})

    assert job.status == JobStatus.FAILED
    assert "port 1234" in job.error
    assert gateway_cluster.standin.get("Ingress", NS, "web-access") is None


def test_it_removes_the_route_when_the_release_is_uninstalled(gateway_cluster, run_job, test_charts):
    install(run_job, gateway_cluster, access={"port": 9100, "path": "/", "kind": "ui"})
    install(run_job, gateway_cluster, release_name="other")  # keeps the namespace alive

    job = run_job(gateway_cluster, job_type="helm_uninstall", releases=["web"], namespace=NS)

    assert job.status == JobStatus.COMPLETED, job.error
    assert gateway_cluster.standin.get("Ingress", NS, "web-access") is None
    assert gateway_cluster.standin.get("Namespace", None, NS) is not None


def test_it_isolates_each_deployment_namespace_by_default(gateway_cluster, run_job, test_charts):
    job = install(run_job, gateway_cluster)

    assert job.status == JobStatus.COMPLETED, job.error
    policy = gateway_cluster.standin.get("NetworkPolicy", NS, "budportal-isolation")
    assert policy["spec"]["podSelector"] == {}
    peers = policy["spec"]["ingress"][0]["from"]
    admitted = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers]
    assert admitted == [NS, "ingress-nginx"]
    assert job.result["network_isolated"] is True


def test_it_isolates_the_namespace_when_another_component_created_the_policy_first(
    gateway_cluster, run_job, test_charts, monkeypatch
):
    """Two components of one wave install at once: the other one's POST lands between our read and our POST."""
    from clusterjobs.helm import access
    from clusterjobs.kube import KubeClient

    assert install(run_job, gateway_cluster).status == JobStatus.COMPLETED  # the other one: namespace + policy
    stale = [True]  # our first read still saw no policy
    real_get = KubeClient.get_json

    def get_json(self, path, **kwargs):
        if stale and path.endswith("/budportal-isolation"):
            stale.clear()
            return None
        return real_get(self, path, **kwargs)

    monkeypatch.setattr(KubeClient, "get_json", get_json)

    assert access.isolate_namespace(gateway_cluster, NS) is True  # was: KubeError "HTTP 409 Conflict"
    assert gateway_cluster.standin.get("NetworkPolicy", NS, "budportal-isolation")["spec"]["podSelector"] == {}


def test_it_leaves_the_namespace_open_when_the_cluster_turns_isolation_off(sandbox, run_job, test_charts):
    sandbox.network_isolation = False
    sandbox.save()

    job = install(run_job, sandbox)

    assert job.status == JobStatus.COMPLETED, job.error
    assert sandbox.standin.get("NetworkPolicy", NS, "budportal-isolation") is None


def test_it_removes_the_namespace_a_failed_first_install_created_with_delete_on_failure(sandbox, run_job, test_charts):
    sandbox.standin.fail_release("web")

    job = install(run_job, sandbox, delete_on_failure=True, timeout="3s")

    assert job.status == JobStatus.FAILED
    assert sandbox.standin.get("Namespace", None, NS) is None


def test_it_keeps_the_namespace_of_a_failed_install_without_delete_on_failure(sandbox, run_job, test_charts):
    sandbox.standin.fail_release("web")

    job = install(run_job, sandbox, timeout="3s")

    assert job.status == JobStatus.FAILED
    assert sandbox.standin.get("Namespace", None, NS) is not None


def test_it_does_not_create_the_namespace_when_told_not_to(sandbox, run_job, test_charts):
    job = install(run_job, sandbox, create_namespace=False)

    assert job.status == JobStatus.FAILED
    assert NS in job.error
    assert sandbox.standin.get("Namespace", None, NS) is None


@pytest.mark.parametrize(
    ("config", "loc"),
    [
        ({"access": {"port": 0}}, ["config", "access", "port"]),
        ({"access": {"port": 80, "path": "/../x"}}, ["config", "access", "path"]),
        ({"access": {"port": 80, "kind": "admin"}}, ["config", "access", "kind"]),
        ({"access": {"port": 80, "host": "evil.example.com"}}, ["config", "access"]),
        ({"create_namespace": "yes"}, ["config", "create_namespace"]),
    ],
)
def test_it_refuses_bad_helm_options_with_their_path(sandbox, run_job, test_charts, config, loc):
    from budportal.errors import ServiceValidationError

    with pytest.raises(ServiceValidationError) as caught:
        install(run_job, sandbox, **config)

    assert caught.value.errors[0]["loc"] == loc


def test_the_policy_proxy_lets_a_chart_write_its_own_ingress_and_httproute(sandbox, run_job, test_charts):
    objects = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "own-ingress"},
            "spec": {"rules": [{"host": "a.example.com"}]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "own-route"},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["a.example.com"]},
        },
    ]

    job = run_job(sandbox, chart_ref="charts/objects", release_name="routes", namespace=NS, values={"objects": objects})

    assert job.status == JobStatus.COMPLETED, job.error
    assert sandbox.standin.get("Ingress", NS, "own-ingress") is not None
    assert sandbox.standin.get("HTTPRoute", NS, "own-route") is not None
