"""Issue 10: a public template written by another user injects whole objects (a ClusterRoleBinding to
cluster-admin, a privileged host-network Deployment in kube-system) through a value a chart renders
unquoted. Deployed by a second user onto their sandbox cluster (the Kubernetes API stand-in, a contract
fake: nothing runs), it must end FAILED with a readable reason, and nothing may reach kube-system or the
cluster scope. The portal's checks must not rely on the chart quoting its values: ``charts/unquoted`` (a
test chart) renders them as a careless third-party chart would.
"""

from pathlib import Path

import pytest

from clusterjobs.models import JobStatus
from tests.clusterjobs.conftest import TEST_CHARTS
from tests.clusterjobs.test_policy_proxy import INJECTED_IMAGE
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db

YAML_1_1_IMAGE = "busybox\n          securityContext:\n            privileged: y"


@pytest.fixture
def third_party_charts(deploy_settings, tmp_path) -> Path:
    """``charts/<name>``: the bundled charts plus the test chart that renders values unquoted."""
    charts = tmp_path / "charts"
    charts.mkdir()
    for chart in [*Path(deploy_settings.CHARTS_DIR).iterdir(), TEST_CHARTS / "unquoted"]:
        if (chart / "Chart.yaml").is_file():
            (charts / chart.name).symlink_to(chart)
    deploy_settings.CHARTS_DIR = charts
    return charts


def publish_and_deploy(other_api, owner_api, call, sandbox, *, chart: str, values: dict) -> UseCaseDeployment:
    """``other_user`` publishes a template; ``owner`` deploys it on their own sandbox cluster."""
    template = {
        "name": "fast-cache",
        "display_name": "Fast cache",
        "version": "1.0.0",
        "visibility": "public",
        "description": "A cache.",
        "components": [{"name": "cache", "type": "helm", "chart": {"ref": chart, "values": values}}],
    }
    published = other_api.post("/api/templates", template, content_type="application/json")
    assert published.status_code == 201, published.content
    created = owner_api.post(
        "/api/deployments",
        {"name": "cache", "template": "fast-cache", "cluster_id": str(sandbox.pk)},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    call(owner_api.post, f"/api/deployments/{created.json()['id']}/start")
    return UseCaseDeployment.objects.get(pk=created.json()["id"])


def assert_nothing_escaped(standin) -> None:
    assert standin.objects("ClusterRoleBinding") == []
    assert standin.objects("Deployment", "kube-system") == []
    for stored in standin.objects("Deployment"):
        for container in stored["spec"]["template"]["spec"]["containers"]:
            assert (container.get("securityContext") or {}).get("privileged") in (None, False)


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (INJECTED_IMAGE, "ClusterRoleBinding/pwn: cluster-scoped ClusterRoleBinding is not allowed on this cluster"),
        (YAML_1_1_IMAGE, "Deployment/cache-cache: spec.template.spec.containers[0].securityContext.privileged: True"),
    ],
    ids=["injected-objects", "yaml-1.1-boolean"],
)
def test_another_users_public_template_fails_with_the_reason_and_creates_nothing(
    other_api, owner_api, call, sandbox, third_party_charts, image, reason
):
    deployment = publish_and_deploy(
        other_api, owner_api, call, sandbox, chart="charts/unquoted", values={"image": image}
    )

    assert deployment.status == "failed", deployment.error
    assert reason in deployment.error, deployment.error
    component = deployment.components.get(component_name="cache")
    assert component.status == "failed"
    assert reason in component.error
    job = sandbox.jobs.get(pk=component.job_id)
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("rendered manifests refused:")
    assert_nothing_escaped(sandbox.standin)


def test_the_bundled_chart_quotes_the_injected_value_into_a_plain_string(other_api, owner_api, call, sandbox):
    deployment = publish_and_deploy(
        other_api,
        owner_api,
        call,
        sandbox,
        chart="charts/valkey",
        values={"image": {"repository": INJECTED_IMAGE, "tag": "8"}},
    )

    assert_nothing_escaped(sandbox.standin)
    [stored] = sandbox.standin.objects("Deployment", deployment.namespace)
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == f"{INJECTED_IMAGE}:8"
