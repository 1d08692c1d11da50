"""The policy proxy with the real helm (3.17 and 4.1) against the Kubernetes API stand-in (a contract fake:
nothing runs). Helm is run directly here, without the portal's early ``helm template`` check, so each test
shows the proxy refusing on its own what Helm really sends.
"""

import base64
import http.client
import json
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from clusterjobs.helm.proxy import PolicyProxy
from clusterjobs.kubeconfig import parse_kubeconfig
from clusterjobs.policy.pss import Level
from clusterjobs.policy.scope import Policy
from clusterjobs.standin.discovery import resource_for_kind
from tests.clusterjobs.conftest import TEST_CHARTS
from tests.clusterjobs.test_policy_units import (
    BASELINE_VIOLATIONS,
    RESTRICTED_POD,
    RESTRICTED_VIOLATIONS,
    pod,
)

NS = "uc-0a1b2c3d"
OBJECTS = TEST_CHARTS / "objects"
UNQUOTED = TEST_CHARTS / "unquoted"
REFUSED = "refused by the portal's policy"

INJECTED_IMAGE = """busybox
          securityContext:
            privileged: y
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: pwn
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: kube-system}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: miner
  namespace: kube-system
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      hostNetwork: y
      hostPID: Y
      containers: [{name: c, image: x, securityContext: {privileged: y}}]"""


def deployment(spec, name="web", namespace=None, annotations=None):
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, **({"annotations": annotations} if annotations else {})},
                "spec": spec,
            },
        },
    }


class Helm:
    def __init__(self, binary, standin, tmp_path: Path):
        self.binary, self.standin, self.tmp_path = binary, standin, tmp_path
        self.major = subprocess.run([binary, "version", "--short"], capture_output=True, text=True, check=True).stdout[
            1
        ]

    def install(self, chart: Path, values: dict, *, policy: Policy | None = None, release: str = "r"):
        """``helm upgrade --install --wait`` with rollback, through a policy proxy; (process, proxy)."""
        values_file = self.tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        kubeconfig = self.tmp_path / "kubeconfig.yaml"
        with PolicyProxy(parse_kubeconfig(self.standin.kubeconfig()), policy or Policy(namespace=NS)) as proxy:
            kubeconfig.write_text(proxy.kubeconfig())
            kubeconfig.chmod(0o600)
            rollback = "--atomic" if self.major == "3" else "--rollback-on-failure"
            process = subprocess.run(
                [
                    self.binary,
                    "--kubeconfig",
                    str(kubeconfig),
                    "upgrade",
                    "--install",
                    release,
                    str(chart),
                    "-n",
                    NS,
                    "--create-namespace",
                    "--wait",
                    "--timeout",
                    "20s",
                    rollback,
                    "-f",
                    str(values_file),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        return process, proxy

    def refused(self, chart: Path, values: dict, **kwargs) -> str:
        process, proxy = self.install(chart, values, **kwargs)
        assert process.returncode != 0, process.stdout
        assert REFUSED in process.stderr, process.stderr
        assert proxy.refusals, process.stderr
        return process.stderr


@pytest.fixture
def helm(helm_binary, kube_standin, tmp_path) -> Helm:
    return Helm(helm_binary, kube_standin, tmp_path)


@pytest.fixture
def helm4(helm4_binary, kube_standin, tmp_path) -> Helm:
    return Helm(helm4_binary, kube_standin, tmp_path)


def nothing_deployed(standin) -> bool:
    releases = standin.objects("Secret", NS, label_selector="owner=helm,status=deployed")
    return not releases and not standin.objects("Deployment") and not standin.objects("Pod")


# ---- Pod Security Standards, one test per control -----------------------------------------------------------


@pytest.mark.parametrize(("control", "spec", "expected"), BASELINE_VIOLATIONS, ids=[v[0] for v in BASELINE_VIOLATIONS])
def test_it_refuses_each_baseline_control_in_what_helm_sends(helm, kube_standin, control, spec, expected):
    error = helm.refused(OBJECTS, {"objects": [deployment(spec)]})

    # Helm reads its values as YAML 1.1 too: the string "y" has become true by the time it is sent.
    expected = expected.replace("'y'", "True")
    assert expected.replace("spec.", "spec.template.spec.", 1) in error or expected in error, error
    assert nothing_deployed(kube_standin)


@pytest.mark.parametrize(
    ("control", "spec", "expected"), RESTRICTED_VIOLATIONS, ids=[v[0] for v in RESTRICTED_VIOLATIONS]
)
def test_it_refuses_each_restricted_control_on_a_restricted_cluster(helm, kube_standin, control, spec, expected):
    error = helm.refused(OBJECTS, {"objects": [deployment(spec)]}, policy=Policy(namespace=NS, level=Level.RESTRICTED))

    assert expected in error, error
    assert nothing_deployed(kube_standin)


def test_it_installs_a_pod_that_meets_restricted_on_a_restricted_cluster(helm, kube_standin):
    process, proxy = helm.install(
        OBJECTS, {"objects": [deployment(RESTRICTED_POD)]}, policy=Policy(namespace=NS, level=Level.RESTRICTED)
    )

    assert process.returncode == 0, process.stderr
    assert proxy.refusals == []
    assert kube_standin.get("Deployment", NS, "web") is not None


def test_it_refuses_an_unconfined_apparmor_annotation(helm, kube_standin):
    annotations = {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}

    error = helm.refused(OBJECTS, {"objects": [deployment(pod(), annotations=annotations)]})

    assert "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]" in error


# ---- what helm template cannot show: hooks, List wrappers, lookup ------------------------------------------


def test_it_refuses_a_privileged_hook(helm, kube_standin):
    hook = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hook", "annotations": {"helm.sh/hook": "pre-install"}},
        "spec": pod(pod={"hostPID": True}),
    }

    error = helm.refused(OBJECTS, {"objects": [hook]})

    assert "Pod hook: spec.hostPID: True (host namespaces)" in error
    assert kube_standin.objects("Pod") == []


def test_it_refuses_the_items_of_a_list_wrapper(helm, kube_standin):
    wrapped = {"apiVersion": "v1", "kind": "List", "items": [deployment(pod(), namespace="kube-system")]}

    error = helm.refused(OBJECTS, {"objects": [wrapped]})

    assert "Deployment kube-system/web is outside the deployment's namespace" in error
    assert kube_standin.objects("Deployment", "kube-system") == []


def test_it_refuses_a_lookup_of_another_namespaces_secret(helm, kube_standin):
    kube_standin.store.create(
        resource_for_kind("Secret"),
        "kube-system",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "admin-token"},
            "data": {"token": base64.b64encode(b"cluster-admin-token").decode()},
        },
        False,
    )

    error = helm.refused(OBJECTS, {"lookupSecret": {"namespace": "kube-system", "name": "admin-token"}})

    assert "Secret kube-system/admin-token is outside the deployment's namespace" in error
    assert kube_standin.get("ConfigMap", NS, "r-copied") is None


# ---- namespaces and cluster-scoped kinds ---------------------------------------------------------------------


def test_it_refuses_an_object_in_another_namespace(helm, kube_standin):
    error = helm.refused(OBJECTS, {"objects": [deployment(pod(), namespace="kube-system")]})

    assert "outside the deployment's namespace" in error
    assert kube_standin.objects("Deployment", "kube-system") == []


CLUSTER_OBJECTS = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "pwn"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NS}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "all"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    },
    {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "root"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/"}},
    },
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ],
        },
    },
]


@pytest.mark.parametrize("obj", CLUSTER_OBJECTS, ids=[o["kind"] for o in CLUSTER_OBJECTS])
def test_it_refuses_cluster_scoped_kinds_by_default(helm, kube_standin, obj):
    error = helm.refused(OBJECTS, {"objects": [obj]})

    assert f"cluster-scoped {obj['kind']}" in error
    assert "the cluster's admin can allow a kind" in error
    assert kube_standin.objects(obj["kind"]) == []


def test_it_installs_a_cluster_scoped_kind_the_cluster_allows(helm, kube_standin):
    policy = Policy(namespace=NS, allowed_cluster_kinds=frozenset({"ClusterRole"}))

    process, _ = helm.install(OBJECTS, {"objects": [CLUSTER_OBJECTS[1]]}, policy=policy)

    assert process.returncode == 0, process.stderr
    assert kube_standin.get("ClusterRole", None, "all") is not None


def test_it_refuses_a_host_path_volume_even_where_persistent_volumes_are_allowed(helm, kube_standin):
    policy = Policy(namespace=NS, allowed_cluster_kinds=frozenset({"PersistentVolume"}))

    error = helm.refused(OBJECTS, {"objects": [CLUSTER_OBJECTS[2]]}, policy=policy)

    assert "PersistentVolume root: spec.hostPath (a volume on the node's filesystem)" in error
    assert kube_standin.objects("PersistentVolume") == []


def test_it_refuses_pod_security_labels_on_the_namespace(helm, kube_standin):
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NS, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
    }

    error = helm.refused(OBJECTS, {"objects": [namespace]})

    assert "only the cluster's admin sets pod-security labels" in error


# ---- the injection of the issue, through a chart that renders a value unquoted ----------------------------


def test_it_refuses_objects_injected_through_an_unquoted_value(helm, kube_standin):
    error = helm.refused(UNQUOTED, {"image": INJECTED_IMAGE})

    assert "ClusterRoleBinding pwn is not allowed" in error
    assert kube_standin.objects("ClusterRoleBinding") == []
    assert kube_standin.objects("Deployment", "kube-system") == []
    assert nothing_deployed(kube_standin)


def test_it_refuses_a_yaml_1_1_boolean_injected_through_an_unquoted_value(helm, helm4, kube_standin):
    injected = {"image": "busybox\n          securityContext:\n            privileged: y"}

    for runner in (helm, helm4):
        error = runner.refused(UNQUOTED, injected)
        assert "spec.template.spec.containers[0].securityContext.privileged: True (privileged containers)" in error
        assert nothing_deployed(kube_standin)


def test_it_installs_the_unquoted_chart_with_helm_4_and_its_watch_based_wait(helm4, kube_standin):
    process, proxy = helm4.install(UNQUOTED, {})

    assert process.returncode == 0, process.stderr
    assert proxy.refusals == []
    assert kube_standin.get("Deployment", NS, "r") is not None


# ---- requests that helm does not send but a client could -----------------------------------------------------


def _request(
    proxy: PolicyProxy,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    token: str | None = None,
):
    context = ssl.create_default_context(cadata=proxy._cert_pem.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), context=context)
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {proxy.token if token is None else token}"}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


@pytest.fixture
def proxy(kube_standin):
    with PolicyProxy(parse_kubeconfig(kube_standin.kubeconfig()), Policy(namespace=NS, level=Level.RESTRICTED)) as p:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
        assert _request(p, "POST", "/api/v1/namespaces", json.dumps(namespace).encode())[0] == 201
        yield p


def test_it_reads_an_apply_patch_in_yaml_with_yaml_1_1_booleans(proxy, kube_standin):
    body = yaml.safe_dump(deployment(RESTRICTED_POD)).replace("hostNetwork", "x").encode()
    body = body.replace(
        b"allowPrivilegeEscalation: false", b"allowPrivilegeEscalation: false\n          privileged: on"
    )

    status, answer = _request(
        proxy,
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/web?fieldManager=x",
        body,
        "application/apply-patch+yaml",
    )

    assert status == 403
    assert answer["reason"] == "Forbidden"
    assert "securityContext.privileged: True (privileged containers)" in answer["message"]
    assert kube_standin.get("Deployment", NS, "web") is None


def test_it_judges_a_merge_patch_by_the_object_it_would_produce(proxy, kube_standin):
    path = f"/apis/apps/v1/namespaces/{NS}/deployments"
    assert _request(proxy, "POST", path, json.dumps(deployment(RESTRICTED_POD)).encode())[0] == 201
    unset = {"spec": {"template": {"spec": {"securityContext": {"runAsNonRoot": None}}}}}

    status, answer = _request(proxy, "PATCH", f"{path}/web", json.dumps(unset).encode(), "application/merge-patch+json")

    assert status == 403
    assert "runAsNonRoot: must be true" in answer["message"]
    stored = kube_standin.get("Deployment", NS, "web")
    assert stored["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("body", [b'{"kind": "Deployment", "kind": "Pod"}', b"not json", b"[1]"])
def test_it_refuses_a_body_it_cannot_read_unambiguously(proxy, kube_standin, body):
    status, answer = _request(proxy, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", body)

    assert status == 403
    assert REFUSED in answer["message"]
    assert kube_standin.objects("Deployment", NS) == []  # nothing reached the API server
    assert kube_standin.objects("Pod", NS) == []


@pytest.mark.parametrize("token", ["", "wrong", "kube-standin"])
def test_it_answers_401_without_the_jobs_token(proxy, token):
    assert _request(proxy, "GET", "/version", token=token)[0] == 401


def test_helms_kubeconfig_holds_no_real_credential(proxy, kube_standin):
    assert "kube-standin" not in proxy.kubeconfig()
    assert kube_standin.url not in proxy.kubeconfig()


def test_it_reaches_a_tls_api_server_with_the_clusters_own_credentials(helm_binary, tmp_path, monkeypatch):
    from clusterjobs.standin import KubeStandIn, server
    from tests.clusterjobs.conftest import (
        SECRET_TOKEN,
        make_kubeconfig,
        self_signed,
        serve_tls,
    )

    seen: list[str | None] = []
    dispatch = server.Handler._dispatch

    def spy(handler, method):
        seen.append(handler.headers.get("Authorization"))
        dispatch(handler, method)

    monkeypatch.setattr(server.Handler, "_dispatch", spy)
    ca = base64.b64encode(self_signed(tmp_path)).decode()
    standin = KubeStandIn()
    standin.controllers.start()
    try:
        with serve_tls(standin._httpd, tmp_path) as url:
            config = parse_kubeconfig(make_kubeconfig(server=url, **{"certificate-authority-data": ca}))
            with PolicyProxy(config, Policy(namespace=NS)) as proxy:
                kubeconfig = tmp_path / "kubeconfig.yaml"
                kubeconfig.write_text(proxy.kubeconfig())
                kubeconfig.chmod(0o600)
                process = subprocess.run(
                    [
                        helm_binary,
                        "--kubeconfig",
                        str(kubeconfig),
                        "upgrade",
                        "--install",
                        "db",
                        "charts/qdrant",
                        "-n",
                        NS,
                        "--create-namespace",
                        "--wait",
                        "--atomic",
                        "--timeout",
                        "20s",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
    finally:
        standin.store.close()
        standin.controllers.join()

    assert process.returncode == 0, process.stderr
    assert seen
    assert set(seen) == {f"Bearer {SECRET_TOKEN}"}
    assert SECRET_TOKEN not in proxy.kubeconfig()
    assert standin.get("Service", NS, "db-qdrant") is not None


@pytest.mark.parametrize("length", [b"-1", b"lots"])
def test_it_answers_400_to_a_content_length_that_is_not_one(proxy, length):
    import socket

    context = ssl.create_default_context(cadata=proxy._cert_pem.decode())
    port = int(proxy.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /api/v1/namespaces/" + NS.encode() + b"/configmaps HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + proxy.token.encode() + b"\r\nContent-Length: " + length + b"\r\n\r\n"
        )
        assert tls.recv(64).startswith(b"HTTP/1.1 400")
