"""The bundled charts in ``charts/``, checked with the real ``helm lint --strict`` and ``helm template``.

Every directory of ``charts/`` that holds a ``Chart.yaml`` is discovered, so a chart added later is covered by the
generic tests; the value-specific tests name the charts they know. Helm calls are few on purpose (CI has 2
cores): one lint, one default render and one schema check per chart, plus one or two renders per known chart.
"""

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

CHARTS_DIR = Path(settings.BASE_DIR) / "charts"
CHARTS = sorted(path.parent.name for path in CHARTS_DIR.glob("*/Chart.yaml"))
RELEASE = "rel"
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
# What the portal refuses in Helm values (docs/architecture.md, Trust boundary).
REFUSED_KEYS = {"hostNetwork", "hostPID", "hostIPC", "privileged", "allowPrivilegeEscalation"}
POD_OWNERS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}

Manifest = dict[str, Any]


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = os.environ.get("HELM_BINARY") or settings.HELM_BINARY
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def _ci_values(chart: str) -> list[str]:
    """A chart that cannot render with its defaults ships ``ci/test-values.yaml`` (chart-testing convention)."""
    path = CHARTS_DIR / chart / "ci" / "test-values.yaml"
    return ["-f", str(path)] if path.exists() else []


def _render(chart: str, *args: str, release: str = RELEASE) -> list[Manifest]:
    result = _helm("template", release, str(CHARTS_DIR / chart), *_ci_values(chart), *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def _render_default(chart: str) -> tuple[Manifest, ...]:
    return tuple(_render(chart))


def _of_kind(manifests: list[Manifest] | tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [doc for doc in manifests if doc["kind"] == kind]


def _one(manifests: list[Manifest] | tuple[Manifest, ...], kind: str) -> Manifest:
    found = _of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {[doc['metadata']['name'] for doc in found]}"
    return found[0]


def _container(manifests: list[Manifest]) -> Manifest:
    return _one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _env(container: Manifest) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def _truthy_refused_keys(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        found = [f"{path}.{key}".lstrip(".") for key, value in node.items() if key in REFUSED_KEYS and value]
        return found + [hit for key, value in node.items() for hit in _truthy_refused_keys(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [hit for index, item in enumerate(node) for hit in _truthy_refused_keys(item, f"{path}[{index}]")]
    return []


def test_it_finds_the_charts_the_component_catalog_needs() -> None:
    assert {"vllm", "qdrant", "valkey", "text-embeddings", "agent-runtime"} <= set(CHARTS)


@pytest.mark.parametrize("chart", CHARTS)
def test_it_passes_helm_lint_strict(chart: str) -> None:
    result = _helm("lint", "--strict", str(CHARTS_DIR / chart), *_ci_values(chart))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    meta = yaml.safe_load((CHARTS_DIR / chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == chart and meta["version"]
    assert "kubeVersion" not in meta


@pytest.mark.parametrize("chart", CHARTS)
def test_it_ships_default_values_the_portal_accepts(chart: str) -> None:
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text()) or {}

    assert _truthy_refused_keys(values) == []


@pytest.mark.parametrize("chart", CHARTS)
def test_it_renders_a_service_that_selects_the_deployment_pods(chart: str) -> None:
    manifests = _render_default(chart)
    services = _of_kind(manifests, "Service")
    deployments = _of_kind(manifests, "Deployment")

    assert services and deployments
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments]
    for service in services:
        assert service["spec"]["ports"], service["metadata"]["name"]
        selector = service["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in pod_labels), service["metadata"]["name"]


@pytest.mark.parametrize("chart", CHARTS)
def test_it_runs_every_pod_non_root_without_privilege_escalation(chart: str) -> None:
    owners = [doc for doc in _render_default(chart) if doc["kind"] in POD_OWNERS]

    assert owners
    for owner in owners:
        pod = owner["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert not any(pod.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert not context.get("privileged"), container["name"]
            assert "ALL" in context["capabilities"]["drop"], container["name"]
            assert container["resources"]["requests"], container["name"]


@pytest.mark.parametrize("chart", CHARTS)
def test_it_puts_the_standard_labels_on_every_object(chart: str) -> None:
    for doc in _render_default(chart):
        labels = doc["metadata"].get("labels", {})
        assert all(labels.get(key) for key in STANDARD_LABELS), (doc["kind"], labels)
        assert labels["app.kubernetes.io/instance"] == RELEASE


@pytest.mark.parametrize("chart", CHARTS)
def test_it_rejects_a_wrongly_typed_value_with_the_schema(chart: str) -> None:
    schema = yaml.safe_load((CHARTS_DIR / chart / "values.schema.json").read_text())
    typed = [key for key, prop in schema["properties"].items() if prop.get("type") in ("integer", "boolean")]
    assert schema["$schema"].startswith("http://json-schema.org/draft-07/schema")
    assert typed, "the schema types no scalar value"

    result = _helm("template", RELEASE, str(CHARTS_DIR / chart), *_ci_values(chart), "--set-string", f"{typed[0]}=abc")

    assert result.returncode != 0
    assert "schema" in result.stderr and typed[0] in result.stderr


@pytest.mark.parametrize("chart", ["vllm", "qdrant", "valkey", "text-embeddings", "agent-runtime"])
def test_it_names_the_service_after_the_release_with_an_http_first_port(chart: str) -> None:
    service = _one(_render_default(chart), "Service")

    assert service["metadata"]["name"] == f"{RELEASE}-{chart}"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["name"] == "http"


def test_it_serves_the_vllm_model_with_the_requested_gpus() -> None:
    manifests = _render(
        "vllm", "--set", "model=mistralai/Mistral-7B-Instruct-v0.3", "--set", "resources.gpu=2",
        "--set", "maxModelLen=4096", "--set", "port=9000", "--set", "extraArgs={--enforce-eager}",
    )
    container = _container(manifests)
    args = container["args"]

    assert args[args.index("--model") + 1] == "mistralai/Mistral-7B-Instruct-v0.3"
    assert args[args.index("--port") + 1] == "9000"
    assert args[args.index("--max-model-len") + 1] == "4096"
    assert args[-1] == "--enforce-eager"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert _one(manifests, "Service")["spec"]["ports"][0]["port"] == 9000


def test_it_defaults_vllm_to_one_gpu_and_drops_the_limit_at_zero() -> None:
    default = _container(list(_render_default("vllm")))
    cpu_only = _container(_render("vllm", "--set", "resources.gpu=0"))

    assert default["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--max-model-len" not in default["args"]
    assert "nvidia.com/gpu" not in cpu_only["resources"]["limits"]


def test_it_wires_the_agent_runtime_endpoints_env_and_config() -> None:
    manifests = _render(
        "agent-runtime", "--set", "llm_endpoint=http://llm.uc-1.svc.cluster.local:8000/v1",
        "--set", "concurrency=8", "--set", "env.RETRIEVAL_TOP_K=5", "--set", "config.chunk_size=512",
        release="my-agent-runtime",
    )
    container = _container(manifests)
    env = _env(container)
    config_map = _one(manifests, "ConfigMap")

    assert env["LLM_ENDPOINT"] == "http://llm.uc-1.svc.cluster.local:8000/v1"
    assert "VECTORDB_ENDPOINT" not in env and "MEMORY_ENDPOINT" not in env
    assert env["AGENT_CONCURRENCY"] == "8" and env["RETRIEVAL_TOP_K"] == "5"
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == {"chunk_size": 512}
    assert {"name": "config", "mountPath": "/etc/agent", "readOnly": True} in container["volumeMounts"]
    assert env["AGENT_CONFIG"] == "/etc/agent/config.yaml"
    # A release name that already contains the chart name is used as is.
    assert _one(manifests, "Service")["metadata"]["name"] == "my-agent-runtime"


def test_it_keeps_the_valkey_password_in_a_secret_and_data_on_a_claim() -> None:
    manifests = _render("valkey", "--set", "auth.password=s3cret-pw", "--set", "persistence.enabled=true")
    deployment = _one(manifests, "Deployment")
    container = _container(manifests)
    claim = _one(manifests, "PersistentVolumeClaim")

    assert "s3cret-pw" not in yaml.safe_dump(deployment)
    assert _env(container)["VALKEY_PASSWORD"]["secretKeyRef"]["name"] == _one(manifests, "Secret")["metadata"]["name"]
    assert "--requirepass" in container["args"] and "--appendonly" in container["args"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}} in volumes
    assert not _of_kind(_render_default("valkey"), "Secret")


def test_it_gives_qdrant_a_claim_of_the_requested_size_when_persistent() -> None:
    manifests = _render("qdrant", "--set", "persistence.enabled=true", "--set", "persistence.size=25Gi")
    deployment = _one(manifests, "Deployment")

    assert _one(manifests, "PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"] == "25Gi"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert [port["name"] for port in _one(manifests, "Service")["spec"]["ports"]] == ["http", "grpc"]
    assert not _of_kind(_render_default("qdrant"), "PersistentVolumeClaim")


def test_it_labels_a_text_embeddings_reranker_and_serves_its_model() -> None:
    manifests = _render("text-embeddings", "--set", "mode=rerank", "--set", "model=BAAI/bge-reranker-base")
    args = _container(manifests)["args"]

    assert args[args.index("--model-id") + 1] == "BAAI/bge-reranker-base"
    assert _one(manifests, "Deployment")["metadata"]["labels"]["app.kubernetes.io/component"] == "reranker"
    default = _one(_render_default("text-embeddings"), "Deployment")
    assert default["metadata"]["labels"]["app.kubernetes.io/component"] == "embedder"
