"""``charts/budportal`` with ``metrics.enabled``: a token-protected metrics port on web and worker pods."""

from __future__ import annotations

from typing import Any

from tests.production.test_chart_install import CHART, _docs, _pod_spec, _template


def _render(helm_binary: str, *args: str) -> dict[str, dict[str, Any]]:
    docs = _docs(_template(helm_binary, "-f", str(CHART / "ci" / "test-values.yaml"), *args))
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}


def test_it_adds_no_metrics_container_or_annotation_by_default(helm_binary) -> None:
    for deployment in _render(helm_binary).values():
        pod = deployment["spec"]["template"]
        assert "prometheus.io/scrape" not in pod["metadata"]["annotations"]
        assert "metrics" not in {c["name"] for c in pod["spec"]["containers"]}


def test_it_serves_metrics_on_a_port_of_every_pod_when_enabled(helm_binary) -> None:
    deployments = _render(helm_binary, "--set", "metrics.enabled=true", "--set", "secret.metricsToken=t0k")
    assert len(deployments) == 2
    for name, deployment in deployments.items():
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == "9100"
        containers = {c["name"]: c for c in _pod_spec(deployment)["containers"]}
        metrics = containers["metrics"]
        assert metrics["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
        assert ("--database" in metrics["command"]) == (not name.endswith("-worker"))  # database gauges once
        for container in containers.values():
            env = {item["name"]: item for item in container["env"]}
            assert env["PROMETHEUS_MULTIPROC_DIR"]["value"] == "/tmp/prometheus"
            assert env["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "METRICS_TOKEN"


def test_it_refuses_to_enable_metrics_without_a_token(helm_binary) -> None:
    result = _template(helm_binary, "-f", str(CHART / "ci" / "test-values.yaml"), "--set", "metrics.enabled=true")
    assert result.returncode != 0
    assert "secret.metricsToken is required" in result.stderr


def test_it_runs_several_web_processes_per_pod_on_one_port_when_asked(helm_binary) -> None:
    web = _render(helm_binary, "--set", "web.processes=3")["bud-budportal"]
    container = _pod_spec(web)["containers"][0]
    assert container["command"] == ["python", "-m", "budportal.serve"]
    assert container["args"] == ["-b", "0.0.0.0", "-p", "8000", "-n", "3"]
    assert container["ports"][0]["containerPort"] == 8000
    result = _template(helm_binary, "-f", str(CHART / "ci" / "test-values.yaml"), "--set", "web.processes=0")
    assert result.returncode != 0
    assert "processes" in result.stderr
