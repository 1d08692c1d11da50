import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from clusterjobs.validators import (
    BLOCKED_VALUE_KEYS,
    bundled_chart_dir,
    chart_ref_kind,
    deployment_namespace,
    dns_label,
    find_blocked_values,
    is_deployment_namespace,
    is_dns_label,
    validate_chart_ref,
)


@pytest.fixture
def charts_dir(tmp_path: Path) -> Path:
    chart = tmp_path / "mychart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mychart\nversion: 0.1.0\n")
    (tmp_path / "nochartyaml").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "ref",
    [
        "oci://registry.example.com/charts/myapp",
        "https://charts.example.com/x",
        "oci://registry.example.com:5000/team/agent-runtime",
        "https://charts.example.com/repo/app-1.2.3.tgz",
    ],
)
def test_it_accepts_remote_chart_refs(ref: str) -> None:
    assert validate_chart_ref(ref) is None


def test_it_accepts_a_bundled_chart_that_exists(charts_dir: Path) -> None:
    assert validate_chart_ref("charts/mychart", charts_dir=charts_dir) is None
    with override_settings(CHARTS_DIR=charts_dir):
        assert validate_chart_ref("charts/mychart") is None
        assert bundled_chart_dir("charts/mychart") == charts_dir / "mychart"


def test_it_refuses_a_bundled_chart_that_does_not_exist(charts_dir: Path) -> None:
    assert "does not exist" in validate_chart_ref("charts/missing", charts_dir=charts_dir)
    assert "does not exist" in validate_chart_ref("charts/nochartyaml", charts_dir=charts_dir)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("invalid-ref", "invalid chart ref"),
        ("ftp://x", "invalid chart ref"),
        ("oci://valid; rm -rf /", "whitespace"),
        ("oci://valid;rm", "not allowed: ;"),
        ("$(whoami)", "not allowed"),
        ("oci://host/a|b", "not allowed: |"),
        ("https://host/`id`", "not allowed: `"),
        ("oci://host/a\nb", "whitespace"),
        ("oci://host/a\\b", "not allowed: \\"),
        ("https://host/x'y", "not allowed: '"),
        ("http://x/y", "http://"),
        ("file:///etc", "file:"),
        ("charts/../x", ".."),
        ("oci://host/charts/../../etc", ".."),
        ("https://u:p@h/x", "credentials"),
        ("oci://user@h/x", "credentials"),
        ("", "required"),
        ("oci://host", "invalid chart ref"),
        ("oci://host:99999/x", "invalid chart ref"),
        ("charts/a/b", "invalid chart ref"),
        ("/abs/chart", "invalid chart ref"),
        ("oci://" + "a" * 510 + "/x", "longer than 512"),
    ],
)
def test_it_refuses_dangerous_or_malformed_chart_refs(ref: str, expected: str, charts_dir: Path) -> None:
    error = validate_chart_ref(ref, charts_dir=charts_dir)
    assert error is not None
    assert expected in error


def test_it_refuses_a_non_string_ref() -> None:
    assert validate_chart_ref(None) == "chart ref is required"  # type: ignore[arg-type]


def test_it_names_the_kind_of_a_ref() -> None:
    assert chart_ref_kind("oci://r.example.com/c/x") == "oci"
    assert chart_ref_kind("https://r.example.com/x") == "https"
    assert chart_ref_kind("charts/vllm") == "bundled"
    assert chart_ref_kind("oci://r; ls") is None


def test_it_refuses_host_network_with_the_path() -> None:
    errors = find_blocked_values({"hostNetwork": True}, ["agent_runtime", "chart", "values"])
    assert errors == [
        {"loc": ["agent_runtime", "chart", "values", "hostNetwork"], "msg": errors[0]["msg"]},
    ]
    assert errors[0]["msg"].startswith("agent_runtime.chart.values.hostNetwork:")


def test_it_refuses_nested_privileged_inside_lists_with_the_dotted_path() -> None:
    values = {"sidecars": [{"name": "ok"}, {"securityContext": {"privileged": True}}]}
    errors = find_blocked_values(values, ("agent_runtime", "chart", "values"))
    assert len(errors) == 1
    assert errors[0]["loc"] == ["agent_runtime", "chart", "values", "sidecars", 1, "securityContext", "privileged"]
    assert "agent_runtime.chart.values.sidecars[1].securityContext.privileged" in errors[0]["msg"]


def test_it_finds_every_blocked_key_at_any_depth() -> None:
    values = {"a": {"b": [[{key: True}] for key in BLOCKED_VALUE_KEYS]}}
    found = {e["loc"][-1] for e in find_blocked_values(values)}
    assert found == set(BLOCKED_VALUE_KEYS)


@pytest.mark.parametrize("truthy", [True, 1, "true", "True", "yes", "{{ parameters.x }}"])
def test_it_counts_truthy_spellings(truthy) -> None:
    assert find_blocked_values({"securityContext": {"privileged": truthy}})


@pytest.mark.parametrize("falsy", [False, 0, "false", "False", "", None, "0", "no"])
def test_it_lets_falsy_values_pass(falsy) -> None:
    assert find_blocked_values({"hostPID": falsy, "podSecurityContext": {"privileged": falsy}}) == []


def test_it_passes_clean_values() -> None:
    values = {
        "replicaCount": 2,
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True},
        "env": [{"name": "HOST_NETWORK", "value": "true"}],
        "hostname": "db",
    }
    assert find_blocked_values(values) == []


def test_it_makes_dns_labels() -> None:
    assert dns_label("Vector_DB.main") == "vector-db-main"
    assert dns_label("-x_") == "x"
    assert dns_label("a" * 80) == "a" * 63
    assert is_dns_label(dns_label("agent_runtime--" + "b" * 70))
    assert is_dns_label("llm-1")
    assert not is_dns_label("llm_1")
    assert not is_dns_label("-a")
    with pytest.raises(ValueError):
        dns_label("___")


def test_it_derives_the_deployment_namespace() -> None:
    deployment_id = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert deployment_namespace(deployment_id) == "uc-0f1e2d3c"
    assert deployment_namespace(str(deployment_id)) == "uc-0f1e2d3c"
    assert is_deployment_namespace("uc-0f1e2d3c")
    assert not is_deployment_namespace("kube-system")
    assert not is_deployment_namespace("uc-0F1E2D3C")
