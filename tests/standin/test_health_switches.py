"""The stand-in's health switches (a contract fake: nothing runs): Pods owned by ReplicaSets, a Deployment made
unready or crash-looping after install, Events, out-of-band deletion, and the sandbox's admin endpoint."""

import io
import signal
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clusterjobs.standin import KubeStandIn
from tests.standin.test_api import NS, call, deployment


@pytest.fixture
def standin(kube_standin: KubeStandIn) -> KubeStandIn:
    assert call(kube_standin, "POST", "/api/v1/namespaces", {"metadata": {"name": NS}})[0] == 201
    call(kube_standin, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("web"))
    return kube_standin


def pods(standin: KubeStandIn) -> list[dict]:
    return standin.objects("Pod", NS, "app=web")


def test_it_runs_pods_owned_by_the_deployments_replicaset(standin: KubeStandIn) -> None:
    [replicaset] = standin.objects("ReplicaSet", NS, "app=web")
    owned = pods(standin)

    assert len(owned) == 2
    assert {p["metadata"]["ownerReferences"][0]["uid"] for p in owned} == {replicaset["metadata"]["uid"]}
    assert all(p["status"]["phase"] == "Running" and p["status"]["containerStatuses"][0]["ready"] for p in owned)

    call(standin, "DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    assert pods(standin) == []  # gone with their ReplicaSet


def test_it_crash_loops_a_deployment_after_install_and_heals_it(standin: KubeStandIn) -> None:
    standin.crash_loop(NS, "web")

    live = standin.get("Deployment", NS, "web")
    assert live["status"]["readyReplicas"] == 0
    assert ("Progressing", "ProgressDeadlineExceeded") in [
        (c["type"], c["reason"]) for c in live["status"]["conditions"]
    ]
    pod = pods(standin)[0]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    [event] = standin.events_for("Pod", NS, pod["metadata"]["name"])
    assert (event["type"], event["reason"]) == ("Warning", "BackOff")

    standin.heal(NS, "web")
    assert standin.get("Deployment", NS, "web")["status"]["readyReplicas"] == 2
    assert all(p["status"]["containerStatuses"][0]["ready"] for p in pods(standin))


def test_it_makes_a_deployment_unready_with_running_pods(standin: KubeStandIn) -> None:
    standin.make_unready(NS, "web")

    assert standin.get("Deployment", NS, "web")["status"]["availableReplicas"] == 0
    assert {p["status"]["phase"] for p in pods(standin)} == {"Running"}
    assert not any(p["status"]["containerStatuses"][0]["ready"] for p in pods(standin))


def test_it_deletes_an_object_out_of_band(standin: KubeStandIn) -> None:
    standin.delete_object("Deployment", NS, "web")

    assert standin.get("Deployment", NS, "web") is None
    assert pods(standin) == []


def test_its_admin_endpoint_needs_its_own_token(standin: KubeStandIn) -> None:
    status, body = call(standin, "POST", "/_standin/crash", {"namespace": NS, "name": "web"})

    assert status == 401
    assert body["reason"] == "Unauthorized"
    assert standin.get("Deployment", NS, "web")["status"]["readyReplicas"] == 2


@pytest.mark.django_db
def test_the_sandbox_command_flips_a_switch_of_the_running_sandbox(settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    out, flipped, errors = io.StringIO(), io.StringIO(), []

    def flip_then_interrupt() -> None:
        deadline = time.monotonic() + 20
        while not (tmp_path / "sandbox-admin.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            call_command("sandbox_cluster", "--switch", "crash", "--namespace", NS, "--object", "web", stdout=flipped)
        except CommandError as exc:
            errors.append(exc)
        # SIGTERM, as scripts/portal.sh stops it: pytest-xdist workers ignore SIGINT (Ctrl-C belongs to the controller).
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    standins: list[KubeStandIn] = []
    original_start = KubeStandIn.start

    def start(self: KubeStandIn) -> KubeStandIn:
        standins.append(self)
        original_start(self)
        call(self, "POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
        call(self, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("web"))
        return self

    helper = threading.Thread(target=flip_then_interrupt)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KubeStandIn, "start", start)
        helper.start()
        try:
            call_command("sandbox_cluster", stdout=out)
        finally:
            helper.join(timeout=30)

    assert not errors
    assert flipped.getvalue().strip() == f"crash: {NS}/web"
    assert (tmp_path / "sandbox-admin.json").stat().st_mode & 0o077 == 0
    assert (NS, "web") in standins[0].controllers.crash_looping
