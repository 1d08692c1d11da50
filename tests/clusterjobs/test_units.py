"""Pure functions: manifest checks, endpoint discovery, redaction, kubeconfig parsing, encryption, timeouts."""

import pytest

from budportal.errors import ServiceValidationError
from clusterjobs import crypto
from clusterjobs.helm.endpoints import discover_services, primary_endpoint
from clusterjobs.helm.manifests import check_manifests
from clusterjobs.helm.runner import split_https_ref
from clusterjobs.jobconfig import parse_timeout
from clusterjobs.kubeconfig import parse_kubeconfig, secret_fragments
from clusterjobs.redact import MASK, redact
from tests.clusterjobs.conftest import SECRET_TOKEN, make_kubeconfig


def _deployment(pod_spec, kind="Deployment", name="web"):
    if kind == "Pod":
        return {"kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}
    if kind == "CronJob":
        return {
            "kind": kind,
            "metadata": {"name": name},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}},
        }
    return {"kind": kind, "metadata": {"name": name}, "spec": {"template": {"spec": pod_spec}}}


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            _deployment({"containers": [{"name": "a", "securityContext": {"privileged": True}}]}),
            "Deployment/web: spec.template.spec.containers[0].securityContext.privileged",
        ),
        (
            _deployment({"initContainers": [{"securityContext": {"allowPrivilegeEscalation": True}}]}, "StatefulSet"),
            "StatefulSet/web: spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation",
        ),
        (_deployment({"hostPID": True, "containers": []}, "Pod"), "Pod/web: spec.hostPID"),
        (_deployment({"hostIPC": True}, "CronJob"), "CronJob/web: spec.jobTemplate.spec.template.spec.hostIPC"),
        (
            _deployment({"volumes": [{"name": "ok", "emptyDir": {}}, {"name": "root", "hostPath": {"path": "/"}}]}),
            "Deployment/web: spec.template.spec.volumes[1].hostPath (root)",
        ),
        (
            _deployment(
                {"containers": [{}, {"securityContext": {"capabilities": {"add": ["CHOWN", "CAP_SYS_ADMIN"]}}}]}, "Job"
            ),
            "Job/web: spec.template.spec.containers[1].securityContext.capabilities.add[1]: 'CAP_SYS_ADMIN'",
        ),
        (
            _deployment({"containers": [{"securityContext": {"capabilities": {"add": ["net_admin"]}}}]}),
            "capabilities.add[0]: 'net_admin'",
        ),
    ],
)
def test_it_names_the_object_and_field_of_each_refused_setting(resource, expected):
    problems = check_manifests([resource])

    assert len(problems) == 1
    assert expected in problems[0]


def test_it_accepts_ordinary_workloads_and_non_workload_objects():
    safe = _deployment(
        {
            "containers": [
                {
                    "securityContext": {
                        "privileged": False,
                        "runAsNonRoot": True,
                        "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]},
                    }
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}],
        }
    )

    assert check_manifests([safe, None, {"kind": "ConfigMap", "data": {"privileged": "true"}}]) == []


def test_it_turns_services_into_cluster_urls_preferring_http_ports():
    resources = [
        {
            "kind": "Service",
            "metadata": {"name": "db-headless"},
            "spec": {"ports": [{"name": "grpc-raft", "port": 6335}]},
        },
        {
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"ports": [{"name": "grpc", "port": 6334}, {"name": "http", "port": 6333}]},
        },
        {"kind": "Deployment", "metadata": {"name": "db"}},
    ]

    services = discover_services(resources, "uc-0a1b2c3d")

    assert [s["name"] for s in services] == ["db-headless", "db"]
    assert services[1]["url"] == "http://db.uc-0a1b2c3d.svc.cluster.local:6333"
    assert services[1]["ports"][0] == {"name": "grpc", "port": 6334, "protocol": "TCP"}
    assert primary_endpoint(services) == "http://db.uc-0a1b2c3d.svc.cluster.local:6333"
    assert primary_endpoint([]) is None


def test_it_redacts_credentials_from_helm_errors():
    text = (
        f"Error: cannot reach server with token {SECRET_TOKEN}; values: password=hunter2hunter2 "
        '"apiKey": "sk-live-abc" Authorization: Bearer abcdefghijklmnop '
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- ca " + "QUJD" * 30
    )

    out = redact(text, [SECRET_TOKEN])

    for secret in (SECRET_TOKEN, "hunter2hunter2", "sk-live-abc", "abcdefghijklmnop", "MIIE", "QUJDQUJD"):
        assert secret not in out
    assert out.count(MASK) >= 6
    assert out.startswith("Error: cannot reach server")


def test_it_keeps_ordinary_helm_messages_readable():
    message = "release web failed, and has been uninstalled due to atomic being set: context deadline exceeded"

    assert redact(message) == message


def test_it_reads_the_current_context_and_lists_secret_fragments():
    parsed = parse_kubeconfig(make_kubeconfig(server="https://k8s.example.com:6443/"))

    assert parsed.server == "https://k8s.example.com:6443"
    assert parsed.token == SECRET_TOKEN
    assert SECRET_TOKEN not in repr(parsed)
    assert secret_fragments(make_kubeconfig()) == [SECRET_TOKEN]


def test_it_never_quotes_the_kubeconfig_in_yaml_errors():
    with pytest.raises(ServiceValidationError) as info:
        parse_kubeconfig(f"users:\n- token: {SECRET_TOKEN}\n  : [")

    assert SECRET_TOKEN not in str(info.value)
    assert "line" in str(info.value)


def test_it_encrypts_with_a_key_derived_from_the_settings(settings):
    token = crypto.encrypt("apiVersion: v1")
    assert crypto.decrypt(token) == "apiVersion: v1"

    settings.KUBECONFIG_ENCRYPTION_KEY = "another key"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(600, 600), ("600", 600), ("600s", 600), ("10m", 600), ("1h30m", 5400), ("soon", None), (0, None), (None, None)],
)
def test_it_parses_helm_style_timeouts(value, seconds):
    assert parse_timeout(value) == seconds


def test_it_splits_an_https_ref_into_repository_and_chart():
    repo, chart = split_https_ref("https://charts.example.com/stable/qdrant")

    assert (repo, chart) == ("https://charts.example.com/stable", "qdrant")
