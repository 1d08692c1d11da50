"""GET /metrics: token-protected Prometheus samples; HTTP latency by route; step timings; DB gauges."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from prometheus_client.parser import text_string_to_metric_families

from budportal.models import ApiToken
from tests.pipelines.conftest import dag, run, step  # noqa: F401  (run is a fixture)
from usecases.models import ComponentDeployment, UseCaseDeployment

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_it_hides_metrics_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    assert b"budportal_" not in response.content


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_it_refuses_a_missing_or_wrong_token(client, token, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"budportal_" not in response.content


async def asgi_get(path: str, headers: list[tuple[bytes, bytes]] = ()) -> int:
    from budportal.asgi import application

    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"testserver"), *headers])
    response = await communicator.get_response(timeout=10)
    return response["status"]


@pytest.mark.django_db(transaction=True)
def test_it_times_requests_by_route_pattern_not_by_raw_path(client, owner, token):
    deployment = UseCaseDeployment.objects.create(
        name="demo", owner=owner, template_name="t", template_version="1", namespace="ns"
    )
    _, api_token = ApiToken.issue(user=owner, name="metrics-test")
    auth = [(b"authorization", f"Bearer {api_token}".encode())]
    assert async_to_sync(asgi_get)(f"/api/deployments/{deployment.pk}", auth) == 200
    assert async_to_sync(asgi_get)("/no/such/page/12345") == 404
    samples = scrape(client)
    routes = {dict(labels)["route"] for (name, labels) in samples if name.startswith("budportal_http_request")}
    assert "api/deployments/<deployment_id>" in routes, routes
    assert "unmatched" in routes, routes
    assert not any(str(deployment.pk) in r or "12345" in r for r in routes)
    ok = value(
        samples,
        "budportal_http_request_duration_seconds_count",
        route="api/deployments/<deployment_id>",
        method="GET",
        status="2xx",
    )
    assert ok >= 1


def test_it_counts_steps_by_status_and_times_them_by_action(client, run, token):
    before = scrape(client)
    execution = run(dag(step("a"), step("b", depends_on=["a"]), step("c", "fail", depends_on=["b"])))
    samples = scrape(client)
    assert value(samples, "budportal_steps", status="COMPLETED") == 2
    assert value(samples, "budportal_steps", status="FAILED") == 1
    assert value(samples, "budportal_steps", status="RUNNING") == 0
    completed = ("budportal_step_duration_seconds_count", {"action": "log", "status": "COMPLETED"})
    grown = value(samples, completed[0], **completed[1]) - value(before, completed[0], **completed[1])
    assert grown == 2, execution.status


def test_it_reports_deployments_by_status_and_health(client, owner, token):
    make = UseCaseDeployment.objects.create
    ok = make(name="ok", owner=owner, template_name="t", template_version="1", namespace="a", status="running")
    bad = make(name="bad", owner=owner, template_name="t", template_version="1", namespace="b", status="running")
    make(name="new", owner=owner, template_name="t", template_version="1", namespace="c")
    parts = ((ok, "running"), (bad, "running"), (bad, "failed"), (bad, "failed"))
    for i, (deployment, status) in enumerate(parts):
        ComponentDeployment.objects.create(
            deployment=deployment, component_name=f"c{i}", component_type="helm", status=status
        )
    samples = scrape(client)
    assert value(samples, "budportal_deployments", status="running", health="healthy") == 1
    assert value(samples, "budportal_deployments", status="running", health="degraded") == 1
    assert value(samples, "budportal_deployments", status="pending", health="healthy") == 1
    assert value(samples, "budportal_queue_depth") == 0
    assert ("budportal_queue_oldest_age_seconds", ()) in samples
