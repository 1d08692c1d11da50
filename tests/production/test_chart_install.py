"""``charts/budportal`` installed and upgraded with the real ``helm`` on the Kubernetes API stand-in.

The stand-in is a contract fake (it stores objects and reports them ready; nothing runs), so this proves what
Helm does with the chart: hook order, the objects and how they reference the settings Secret.
"""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterjobs.standin import KubeStandIn
from tests.production.conftest import ROOT

CHART = ROOT / "charts" / "budportal"
NAMESPACE = "portal"
RELEASE = "bud"
SECRET_KEYS = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "KUBECONFIG_ENCRYPTION_KEY", "METRICS_TOKEN"}


def _helm(helm_binary: str, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary, "--kubeconfig", str(kubeconfig), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _install(helm_binary: str, kubeconfig: Path, *values: str) -> subprocess.CompletedProcess[str]:
    return _helm(
        helm_binary,
        kubeconfig,
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--create-namespace",
        "-f",
        str(CHART / "ci" / "test-values.yaml"),
        "--wait",
        "--timeout",
        "60s",
        *values,
    )


def _template(helm_binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary, "template", RELEASE, str(CHART), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _docs(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def _secret_refs(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["valueFrom"]["secretKeyRef"]["name"] for item in container["env"] if "valueFrom" in item}


def _writes(standin: KubeStandIn, plural: str) -> list[int]:
    """Positions in the request log of the creates of ``plural`` objects (POST; Helm 4 applies with PATCH)."""
    pattern = re.compile(rf"/namespaces/{NAMESPACE}/{plural}(/|$)")
    return [
        index
        for index, (method, path) in enumerate(standin.request_log)
        if method in ("POST", "PATCH") and pattern.search(path.split("?")[0])
    ]


@pytest.mark.parametrize("helm", ["helm_binary", "helm4_binary"])
def test_it_installs_web_and_workers_after_the_migration_hook(kube_standin, kubeconfig_file, helm, request) -> None:
    helm_binary = request.getfixturevalue(helm)

    result = _install(helm_binary, kubeconfig_file, "--set", "worker.replicaCount=3", "--set", "worker.processes=4")

    assert result.returncode == 0, result.stderr
    deployments = {d["metadata"]["name"]: d for d in kube_standin.objects("Deployment", namespace=NAMESPACE)}
    assert set(deployments) == {"bud-budportal", "bud-budportal-worker"}
    web, worker = deployments["bud-budportal"], deployments["bud-budportal-worker"]
    assert _pod_spec(web)["containers"][0]["command"] == ["python", "-m", "budportal.serve"]
    assert _pod_spec(worker)["containers"][0]["command"] == ["python", "manage.py", "qcluster"]
    assert worker["spec"]["replicas"] == 3
    assert worker["status"]["readyReplicas"] == 3
    assert {"name": "Q_WORKERS", "value": "4"} in _pod_spec(worker)["containers"][0]["env"]
    # The migration Job ran as a hook before the Deployments, then was deleted on success with its Secret copy.
    jobs, deployments_written = _writes(kube_standin, "jobs"), _writes(kube_standin, "deployments")
    assert jobs
    assert deployments_written
    assert jobs[0] < deployments_written[0]
    assert kube_standin.objects("Job", namespace=NAMESPACE) == []
    secrets = {s["metadata"]["name"] for s in kube_standin.objects("Secret", namespace=NAMESPACE)}
    assert "bud-budportal" in secrets
    assert "bud-budportal-migrate" not in secrets
    for deployment in (web, worker):
        assert _secret_refs(_pod_spec(deployment)["containers"][0]) == dict.fromkeys(SECRET_KEYS, "bud-budportal")
    service = kube_standin.get("Service", NAMESPACE, "bud-budportal")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"


def test_it_runs_the_migration_hook_again_on_upgrade(kube_standin, kubeconfig_file, helm_binary) -> None:
    assert _install(helm_binary, kubeconfig_file).returncode == 0
    jobs_before = len(_writes(kube_standin, "jobs"))

    result = _install(helm_binary, kubeconfig_file, "--set", "image.tag=0.2.0")

    assert result.returncode == 0, result.stderr
    assert len(_writes(kube_standin, "jobs")) == jobs_before + 1
    web = kube_standin.get("Deployment", NAMESPACE, "bud-budportal")
    assert _pod_spec(web)["containers"][0]["image"] == "budportal:0.2.0"
    status = _helm(helm_binary, kubeconfig_file, "status", RELEASE, "-o", "yaml")
    assert yaml.safe_load(status.stdout)["version"] == 2


def test_it_uses_an_existing_secret_everywhere_and_creates_none(helm_binary) -> None:
    docs = _docs(_template(helm_binary, "--set", "secret.existingSecret=portal-settings"))

    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    pods = [doc["spec"]["template"]["spec"] for doc in docs if doc["kind"] in ("Deployment", "Job")]
    assert len(pods) == 3
    for pod in pods:
        assert _secret_refs(pod["containers"][0]) == dict.fromkeys(SECRET_KEYS, "portal-settings")


def test_it_refuses_to_render_without_a_database_url(helm_binary) -> None:
    result = _template(helm_binary, "--set", "secret.secretKey=s3cret")

    assert result.returncode != 0
    assert "secret.databaseUrl is required" in result.stderr


def test_it_routes_the_ingress_to_the_web_service_when_enabled(helm_binary) -> None:
    docs = _docs(
        _template(
            helm_binary,
            "-f",
            str(CHART / "ci" / "test-values.yaml"),
            "--set",
            "ingress.enabled=true",
            "--set",
            "settings.allowedHosts=portal.example.org\\,alt.example.org",
            "--set",
            "ingress.tlsSecretName=portal-tls",
        )
    )
    ingress = next(doc for doc in docs if doc["kind"] == "Ingress")
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "portal.example.org"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "bud-budportal", "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [{"hosts": ["portal.example.org"], "secretName": "portal-tls"}]


def test_it_gives_the_pre_install_migration_its_own_earlier_secret(helm_binary) -> None:
    docs = _docs(_template(helm_binary, "-f", str(CHART / "ci" / "test-values.yaml")))
    hooks = {doc["kind"]: doc for doc in docs if "helm.sh/hook" in doc["metadata"].get("annotations", {})}

    # Hooks run before the release's own objects exist, so the Job cannot use the release's Secret.
    assert set(hooks) == {"Secret", "Job"}
    secret, job = hooks["Secret"], hooks["Job"]
    for hook in (secret, job):
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert _secret_refs(container) == dict.fromkeys(SECRET_KEYS, secret["metadata"]["name"])
    assert "manage.py migrate --noinput" in container["args"][0]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
