"""Real helm (3.17.3 and 4.1.4) against the Kubernetes API stand-in: install, wait, upgrade, roll back, uninstall.

The stand-in is a contract fake (nothing runs); these tests pin down that Helm's whole life cycle works
against it, including the failure paths the portal relies on.
"""

from clusterjobs.standin import KubeStandIn

from .conftest import Helm

NS = "uc-0a1b2c3d"
RELEASE_LABEL = "app.kubernetes.io/instance"


def _env(deployment: dict) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_it_installs_a_chart_with_wait_and_applies_the_values(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("demo", NS, "--set", "greeting=hi,replicas=3")

    deployment = kube_standin.get("Deployment", NS, "demo-web")
    assert deployment["spec"]["replicas"] == 3
    assert _env(deployment) == {"GREETING": "hi"}
    assert deployment["status"]["availableReplicas"] == 3
    assert kube_standin.get("ConfigMap", NS, "demo-config")["data"] == {"greeting": "hi"}
    assert kube_standin.get("Service", NS, "demo-web")["spec"]["clusterIP"].startswith("10.96.")
    assert kube_standin.get("Job", NS, "demo-setup")["status"]["succeeded"] == 1
    [replicaset] = kube_standin.objects("ReplicaSet", NS)
    assert replicaset["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
    assert helm.status("demo", NS)["info"]["status"] == "deployed"


def test_it_runs_helm_test_pods_to_success(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("demo", NS)

    result = helm.run("test", "demo", "-n", NS, "--timeout", "20s")

    assert "Phase:          Succeeded" in result.stdout
    assert kube_standin.get("Pod", NS, "demo-test")["status"]["phase"] == "Succeeded"


def test_it_upgrades_in_place_and_rolls_back(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("demo", NS)
    namespace_uid = kube_standin.get("Namespace", None, NS)["metadata"]["uid"]

    helm.install("demo", NS, "--set", "greeting=bye,image=nginx:1.28")

    deployment = kube_standin.get("Deployment", NS, "demo-web")
    assert _env(deployment) == {"GREETING": "bye"}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "name": "http"}]
    assert deployment["metadata"]["generation"] == 2
    assert kube_standin.get("Namespace", None, NS)["metadata"]["uid"] == namespace_uid
    assert helm.status("demo", NS)["version"] == 2

    helm.run("rollback", "demo", "1", "-n", NS, "--wait", "--timeout", "60s")

    assert kube_standin.get("ConfigMap", NS, "demo-config")["data"] == {"greeting": "hello"}
    assert _env(kube_standin.get("Deployment", NS, "demo-web")) == {"GREETING": "hello"}
    assert [(h["revision"], h["status"]) for h in helm.history("demo", NS)] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]


def test_it_removes_what_an_upgrade_no_longer_renders(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("demo", NS, "--set", "extra=x")
    assert _env(kube_standin.get("Deployment", NS, "demo-web")) == {"GREETING": "hello", "EXTRA": "x"}

    helm.install("demo", NS, "--reset-values")  # without it, an upgrade with no values reuses the last ones

    assert _env(kube_standin.get("Deployment", NS, "demo-web")) == {"GREETING": "hello"}
    assert kube_standin.get("ConfigMap", NS, "demo-config")["data"] == {"greeting": "hello"}


def test_it_uninstalls_with_wait_and_removes_the_objects(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("demo", NS)

    helm.run("uninstall", "demo", "-n", NS, "--wait", "--timeout", "60s")

    for kind in ("Deployment", "ReplicaSet", "Service", "ConfigMap", "Job", "Secret"):
        assert kube_standin.objects(kind, NS) == [], kind
    assert "not found" in helm.run("status", "demo", "-n", NS, check=False).stderr


def test_it_keeps_two_releases_in_one_namespace_apart(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("first", NS)
    helm.install("second", NS, "--set", "greeting=two")

    helm.run("uninstall", "first", "-n", NS, "--wait", "--timeout", "60s")

    assert [d["metadata"]["name"] for d in kube_standin.objects("Deployment", NS)] == ["second-web"]
    assert kube_standin.objects("ReplicaSet", NS, f"{RELEASE_LABEL}=second")[0]["status"]["readyReplicas"] == 2
    assert helm.run("list", "-n", NS, "-q").stdout.split() == ["second"]


def test_it_times_out_a_release_marked_failing(helm: Helm, kube_standin: KubeStandIn) -> None:
    kube_standin.fail_release("broken")

    result = helm.install("broken", NS, timeout="2s", check=False)

    assert result.returncode != 0
    assert "context deadline exceeded" in result.stderr
    assert helm.status("broken", NS)["info"]["status"] == "failed"
    assert kube_standin.get("Deployment", NS, "broken-web")["status"].get("availableReplicas", 0) == 0


def test_it_uninstalls_a_failing_first_install_with_atomic(helm: Helm, kube_standin: KubeStandIn) -> None:
    kube_standin.fail_release("broken")

    result = helm.install("broken", NS, "--atomic", timeout="2s", check=False)

    assert result.returncode != 0
    assert "context deadline exceeded" in result.stderr
    assert kube_standin.objects("Deployment", NS) == []
    assert kube_standin.objects("Secret", NS) == []


def test_it_rolls_a_failing_upgrade_back_with_atomic(helm: Helm, kube_standin: KubeStandIn) -> None:
    helm.install("demo", NS)
    kube_standin.fail_release("demo")

    result = helm.install("demo", NS, "--atomic", "--set", "greeting=bye", timeout="2s", check=False)

    assert result.returncode != 0
    assert "context deadline exceeded" in result.stderr
    assert kube_standin.get("ConfigMap", NS, "demo-config")["data"] == {"greeting": "hello"}
    latest = helm.history("demo", NS)[-1]
    assert (latest["revision"], latest["status"]) == (3, "deployed")


def test_it_times_out_when_the_controllers_are_off(helm: Helm, kube_standin: KubeStandIn) -> None:
    kube_standin.set_controllers(False)

    result = helm.install("demo", NS, timeout="2s", check=False)

    assert "context deadline exceeded" in result.stderr
    assert kube_standin.objects("ReplicaSet", NS) == []


def test_it_keeps_a_deployment_annotated_never_ready_unready(helm3: Helm, kube_standin: KubeStandIn) -> None:
    result = helm3.install("demo", NS, "--set", "neverReady=true", timeout="2s", check=False)

    assert "context deadline exceeded" in result.stderr
    assert kube_standin.objects("Deployment", NS)[0]["status"]["conditions"][0]["status"] == "False"
    assert helm3.install("other", NS, timeout="20s").returncode == 0
