"""The stand-in's HTTP contract, as client-go (helm, kubectl) relies on it."""

import http.client
import json
import shutil
import subprocess
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from clusterjobs.standin import KubeStandIn, protobuf

NS = "demo"


def call(
    standin: KubeStandIn,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> tuple[int, Any]:
    url = urlsplit(standin.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=raw, headers={"Content-Type": content_type, "Accept": accept})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, json.loads(data) if is_json and data else data


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}, "data": data}


def deployment(name: str, image: str = "nginx:1.27", **annotations: str) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "web", "image": image, "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


@pytest.fixture
def standin(kube_standin: KubeStandIn) -> KubeStandIn:
    assert call(kube_standin, "POST", "/api/v1/namespaces", {"metadata": {"name": NS}})[0] == 201
    return kube_standin


def test_it_answers_version_health_and_discovery(standin: KubeStandIn) -> None:
    assert call(standin, "GET", "/version")[1]["gitVersion"] == "v1.33.0"
    assert call(standin, "GET", "/readyz") == (200, b"ok")
    core = call(standin, "GET", "/api/v1")[1]
    assert core["groupVersion"] == "v1"
    namespaced = {r["name"]: r["namespaced"] for r in core["resources"]}
    assert namespaced["secrets"] is True
    assert namespaced["namespaces"] is False
    groups = {g["name"] for g in call(standin, "GET", "/apis")[1]["groups"]}
    assert {
        "apps",
        "batch",
        "networking.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "autoscaling",
        "apiextensions.k8s.io",
    } <= groups
    apps = call(standin, "GET", "/apis/apps/v1")[1]["resources"]
    assert {"name": "deployments", "kind": "Deployment"}.items() <= apps[0].items()
    assert call(standin, "GET", "/apis/autoscaling/v2")[1]["resources"][0]["kind"] == "HorizontalPodAutoscaler"
    crds = call(standin, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")[1]
    assert (crds["kind"], crds["items"]) == ("CustomResourceDefinitionList", [])
    assert call(standin, "GET", "/openapi/v2", accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf") == (
        200,
        b"",
    )
    assert call(standin, "GET", "/openapi/v3") == (200, {"paths": {}})


def test_it_reports_errors_as_status_objects(standin: KubeStandIn) -> None:
    status, body = call(standin, "GET", f"/api/v1/namespaces/{NS}/configmaps/missing")
    assert (status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    created = call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a", x="1"))[1]
    assert call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a"))[1]["reason"] == "AlreadyExists"
    stale = {**created, "metadata": {**created["metadata"], "resourceVersion": "1"}, "data": {"x": "2"}}
    status, body = call(standin, "PUT", f"/api/v1/namespaces/{NS}/configmaps/a", stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert standin.get("ConfigMap", NS, "a")["data"] == {"x": "1"}
    status, body = call(standin, "POST", "/api/v1/namespaces/nowhere/configmaps", configmap("b"))
    assert (status, body["message"]) == (404, 'namespaces "nowhere" not found')


def test_it_updates_with_the_current_resource_version_and_bumps_it(standin: KubeStandIn) -> None:
    created = call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a", x="1"))[1]

    status, updated = call(standin, "PUT", f"/api/v1/namespaces/{NS}/configmaps/a", {**created, "data": {"x": "2"}})

    assert status == 200
    assert updated["data"] == {"x": "2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]


def test_it_filters_lists_by_label_and_field_selectors(standin: KubeStandIn) -> None:
    for name, labels in (("a", {"app": "a"}), ("b", {"app": "b"}), ("c", {})):
        call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap(name, labels))

    def names(query: str) -> list[str]:
        listing = call(standin, "GET", f"/api/v1/namespaces/{NS}/configmaps?{query}")[1]
        assert listing["kind"] == "ConfigMapList"
        assert listing["metadata"]["resourceVersion"]
        return [item["metadata"]["name"] for item in listing["items"]]

    assert names("labelSelector=app%3Da") == ["a"]
    assert names("labelSelector=app+in+(a,b)") == ["a", "b"]
    assert names("labelSelector=app!%3Da") == ["b", "c"]
    assert names("labelSelector=!app") == ["c"]
    assert names("fieldSelector=metadata.name%3Db") == ["b"]
    assert call(standin, "GET", "/api/v1/configmaps?labelSelector=app")[1]["items"][0]["metadata"]["namespace"] == NS


def test_it_applies_strategic_merge_patches_by_merge_key(standin: KubeStandIn) -> None:
    call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("web"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"name": "web", "image": "nginx:1.28", "env": [{"name": "A", "$patch": "delete"}]}],
                }
            }
        }
    }

    status, patched = call(
        standin,
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/web",
        patch,
        "application/strategic-merge-patch+json",
    )

    [container] = patched["spec"]["template"]["spec"]["containers"]
    assert status == 200
    assert container == {"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 80}], "env": []}
    assert patched["metadata"]["generation"] == 2


def test_it_applies_merge_json_and_apply_patches(standin: KubeStandIn) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps/a"
    call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a", x="1", y="2"))

    call(standin, "PATCH", path, {"data": {"x": None, "z": "3"}}, "application/merge-patch+json")
    assert standin.get("ConfigMap", NS, "a")["data"] == {"y": "2", "z": "3"}
    call(standin, "PATCH", path, [{"op": "replace", "path": "/data/y", "value": "9"}], "application/json-patch+json")
    assert standin.get("ConfigMap", NS, "a")["data"] == {"y": "9", "z": "3"}
    status, _ = call(
        standin, "PATCH", path, [{"op": "test", "path": "/data/y", "value": "0"}], "application/json-patch+json"
    )
    assert status == 400

    applied = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: v}\n"
    assert (
        call(
            standin,
            "PATCH",
            f"/api/v1/namespaces/{NS}/configmaps/b?fieldManager=helm",
            applied,
            "application/apply-patch+yaml",
        )[0]
        == 201
    )
    call(
        standin,
        "PATCH",
        f"/api/v1/namespaces/{NS}/configmaps/b?fieldManager=helm",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: w}\n",
        "application/apply-patch+yaml",
    )
    assert standin.get("ConfigMap", NS, "b")["data"] == {"k": "w"}


def test_it_honours_dry_run_writes(standin: KubeStandIn) -> None:
    status, _ = call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps?dryRun=All", configmap("a"))

    assert status == 201
    assert standin.get("ConfigMap", NS, "a") is None


def test_it_deletes_a_namespace_with_everything_in_it(standin: KubeStandIn) -> None:
    call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a"))
    call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("web"))

    assert call(standin, "DELETE", f"/api/v1/namespaces/{NS}")[0] == 200

    assert call(standin, "GET", f"/api/v1/namespaces/{NS}")[0] == 404
    assert standin.objects("ConfigMap", NS) == []
    assert standin.objects("ReplicaSet", NS) == []


def test_it_makes_a_deployment_ready_through_an_owned_replicaset(standin: KubeStandIn) -> None:
    created = call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("web"))[1]

    live = standin.get("Deployment", NS, "web")
    [replicaset] = standin.objects("ReplicaSet", NS, "app=web")
    assert replicaset["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert replicaset["metadata"]["ownerReferences"][0]["controller"] is True
    pod_hash = replicaset["metadata"]["labels"]["pod-template-hash"]
    assert replicaset["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert replicaset["status"]["readyReplicas"] == 2
    assert live["status"]["observedGeneration"] == 1
    assert live["status"]["updatedReplicas"] == 2
    assert [(c["type"], c["reason"]) for c in live["status"]["conditions"]] == [
        ("Available", "MinimumReplicasAvailable"),
        ("Progressing", "NewReplicaSetAvailable"),
    ]

    call(standin, "DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    assert standin.objects("ReplicaSet", NS) == []


def test_it_waits_install_delay_seconds_before_a_deployment_is_ready(standin: KubeStandIn) -> None:
    standin.install_delay_seconds = 0.5
    started = time.monotonic()
    call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("web"))
    assert standin.get("Deployment", NS, "web")["status"].get("availableReplicas") == 0

    while not standin.get("Deployment", NS, "web")["status"].get("availableReplicas"):
        assert time.monotonic() - started < 5
        time.sleep(0.02)

    assert time.monotonic() - started >= 0.5


def test_it_never_readies_an_annotated_deployment_but_readies_its_neighbours(standin: KubeStandIn) -> None:
    call(
        standin,
        "POST",
        f"/apis/apps/v1/namespaces/{NS}/deployments",
        deployment("stuck", **{"standin.budportal.dev/never-ready": "true"}),
    )
    call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("fine"))

    assert standin.get("Deployment", NS, "stuck")["status"]["availableReplicas"] == 0
    assert standin.get("Deployment", NS, "fine")["status"]["availableReplicas"] == 2


def _read_watch(standin: KubeStandIn, path: str, events: list, count: int) -> None:
    url = urlsplit(standin.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    while len(events) < count:
        events.append(json.loads(response.readline()))
    conn.close()


def test_it_streams_initial_events_a_bookmark_then_changes(standin: KubeStandIn) -> None:
    call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a"))
    events: list = []
    watch = (
        f"/api/v1/namespaces/{NS}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=10"
    )
    reader = threading.Thread(target=_read_watch, args=(standin, watch, events, 4))
    reader.start()
    while len(events) < 2:
        time.sleep(0.01)

    call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("b"))
    call(standin, "DELETE", f"/api/v1/namespaces/{NS}/configmaps/a")
    reader.join(timeout=10)

    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"),
        ("BOOKMARK", None),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_it_resumes_a_watch_from_a_resource_version(standin: KubeStandIn) -> None:
    before = call(standin, "GET", f"/api/v1/namespaces/{NS}/configmaps")[1]["metadata"]["resourceVersion"]
    call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", configmap("a"))
    events: list = []

    _read_watch(standin, f"/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion={before}", events, 1)

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def test_it_accepts_protobuf_secrets_as_helm_sends_them(standin: KubeStandIn) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.demo.v1", "labels": {"owner": "helm", "name": "demo"}},
        "data": {"release": "SDRzSUFBQUFBQUFBLw=="},
    }
    body = protobuf.encode(secret)
    assert body.startswith(b"k8s\x00")
    assert protobuf.decode(body) == secret

    status, stored = call(
        standin, "POST", f"/api/v1/namespaces/{NS}/secrets", body, "application/vnd.kubernetes.protobuf"
    )

    assert status == 201
    assert stored["data"] == secret["data"]
    assert standin.objects("Secret", NS, "owner=helm,name=demo")[0]["type"] == "helm.sh/release.v1"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (Debian kubernetes-client) not installed")
def test_it_serves_kubectl(standin: KubeStandIn, kubeconfig_file) -> None:
    def kubectl(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig_file), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    kubectl("apply", "-n", NS, "-f", "-", stdin=json.dumps(deployment("web")))

    assert "successfully rolled out" in kubectl("rollout", "status", "-n", NS, "deploy/web", "--timeout=5s")
    assert kubectl("get", "deploy", "web", "-n", NS, "-o", "jsonpath={.status.readyReplicas}") == "2"


def test_it_stores_secret_string_data_base64_encoded(standin: KubeStandIn) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"token": "abc"}}

    call(standin, "POST", f"/api/v1/namespaces/{NS}/secrets", secret)

    stored = standin.get("Secret", NS, "s")
    assert stored["data"] == {"token": "YWJj"}
    assert "stringData" not in stored


def test_it_refuses_malformed_bodies_and_survives_malformed_objects(standin: KubeStandIn) -> None:
    assert call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", [1, 2])[0] == 400
    assert call(standin, "POST", f"/api/v1/namespaces/{NS}/configmaps", b"{not json")[0] == 400
    assert call(standin, "POST", "/api/v1", {})[0] == 404
    call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", {"metadata": {"name": "bare"}})

    call(standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("fine"))

    assert standin.get("Deployment", NS, "fine")["status"]["availableReplicas"] == 2


def test_it_drops_fields_a_field_manager_stops_applying(standin: KubeStandIn) -> None:
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/web?fieldManager=helm"
    first = deployment("web")
    call(standin, "PATCH", path, first, "application/apply-patch+yaml")
    call(
        standin,
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/web",
        {"metadata": {"labels": {"mine": "1"}}},
        "application/merge-patch+json",
    )
    second = deployment("web", image="nginx:1.28")
    del second["spec"]["template"]["spec"]["containers"][0]["env"]

    call(standin, "PATCH", path, second, "application/apply-patch+yaml")

    live = standin.get("Deployment", NS, "web")
    assert live["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 80}]}
    ]
    assert live["metadata"]["labels"] == {"app": "web", "mine": "1"}  # another writer's field stays
