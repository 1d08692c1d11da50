"""Reliability against real processes: a qcluster killed mid-step, daphne restarted mid-stream, a burst of
deployments on two workers, the database locked while events flow. Deployments go into the Kubernetes API
stand-in (a contract fake: nothing runs) with the real, pinned helm."""

from __future__ import annotations

import http.client
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.reliability.conftest import PRODUCTION, restart_daphne

pytestmark = pytest.mark.timeout(300)

NAMESPACE = "uc-0e1ab1e0"


def _execution(stack, execution_id: str) -> dict:
    status, body = stack.api("GET", f"/api/executions/{execution_id}")
    assert status == 200, body
    return body


def _steps(execution: dict) -> dict[str, dict]:
    return {step["step_id"]: step for step in execution["steps"]}


def _submit(stack, dag: dict) -> str:
    status, body = stack.api("POST", "/api/executions", json=dag)
    assert status == 201, body
    return body["execution_id"]


def test_it_finishes_an_execution_whose_worker_was_killed_mid_step_and_installs_the_release_once(live_deploy):
    stack = live_deploy.stack
    execution_id = _submit(
        stack,
        {
            "name": "killed-mid-step",
            "steps": [
                {"id": "slow", "action": "delay", "params": {"seconds": 4}},
                {
                    "id": "web",
                    "action": "helm_deploy",
                    "depends_on": ["slow"],
                    "params": {
                        "cluster_id": live_deploy.cluster_id,
                        "chart_ref": "charts/valkey",
                        "release_name": "web",
                        "namespace": NAMESPACE,
                        "timeout": "30s",
                    },
                },
            ],
        },
    )
    stack.wait_for(lambda: _steps(_execution(stack, execution_id))["slow"]["status"] == "RUNNING", timeout=30)

    stack.kill("qcluster", signal.SIGKILL)  # the worker machine dies with the step RUNNING
    stack.start_qcluster()
    # The sweep recovers the step once the killed attempt's lease (3 s) has expired.
    stack.wait_for(lambda: "stale_steps_recovered=1" in stack.manage("pipeline_sweep").stdout, timeout=30)
    stack.wait_for(lambda: _execution(stack, execution_id)["completed_at"], timeout=90)

    execution = _execution(stack, execution_id)
    steps = _steps(execution)
    assert execution["status"] == "COMPLETED", execution
    assert (steps["slow"]["attempt"], steps["web"]["attempt"]) == (2, 1)
    records = live_deploy.release_records(NAMESPACE, "web")
    assert [(r["metadata"]["labels"]["version"], r["metadata"]["labels"]["status"]) for r in records] == [
        ("1", "deployed")
    ], "the release was installed more than once"
    status, jobs = stack.api_all("/api/jobs")
    assert status == 200, jobs
    assert len(jobs) == 1, jobs


def test_it_finishes_a_deployment_whose_worker_was_killed_during_the_helm_install(live_deploy):
    live_deploy.standin.install_delay_seconds = 6  # helm --wait polls while the worker is killed
    deployment = live_deploy.create("killed")
    live_deploy.start(deployment["id"])
    stack = live_deploy.stack
    job_id = stack.wait_for(lambda: live_deploy.get(deployment["id"])["components"][0]["job_id"], timeout=30)
    stack.wait_for(lambda: stack.api("GET", f"/api/jobs/{job_id}")[1]["status"] == "RUNNING", timeout=30)
    time.sleep(1.5)

    stack.kill("qcluster", signal.SIGKILL)
    stack.start_qcluster()
    live_deploy.standin.install_delay_seconds = 0
    time.sleep(3.5)
    stack.manage("pipeline_sweep")
    finished = live_deploy.wait_finished(deployment["id"], timeout=60)

    assert finished["status"] == "running", finished
    records = live_deploy.release_records(finished["namespace"], "killed-cache")
    assert [r["metadata"]["labels"]["status"] for r in records].count("deployed") == 1


def test_it_runs_twenty_deployments_started_at_once_on_two_workers(live_deploy):
    names = [f"burst-{i:02d}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        created = list(pool.map(live_deploy.create, names))
        list(pool.map(live_deploy.start, [d["id"] for d in created]))

    finished = [live_deploy.wait_finished(d["id"], timeout=240) for d in created]

    assert [d["status"] for d in finished] == ["running"] * 20, [(d["name"], d["error"]) for d in finished]
    for deployment in finished:
        (component,) = deployment["components"]
        assert component["status"] == "running"
        assert component["completed_at"]
        ns = deployment["namespace"]
        assert component["endpoint_url"] == f"http://{deployment['name']}-cache-valkey.{ns}.svc.cluster.local:6379"
        records = live_deploy.release_records(ns, f"{deployment['name']}-cache")
        assert [r["metadata"]["labels"]["version"] for r in records] == ["1"]
    status, jobs = live_deploy.stack.api_all("/api/jobs")
    assert status == 200
    assert len(jobs) == 20
    assert {j["status"] for j in jobs} == {"COMPLETED"}


def _sse_events(
    stack,
    execution_id: str,
    last_event_id: int | None = None,
    *,
    into: list[tuple[int, str]] | None = None,
    timeout: float = 60,
) -> list[tuple[int, str]]:
    """Read ``(id, event type)`` pairs from the execution's stream, appending to ``into``, until it ends."""
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = {"Cookie": stack.session_cookie}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    conn.request("GET", f"/executions/{execution_id}/events", headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    events, current = ([] if into is None else into), {}
    try:
        while line := response.readline():
            line = line.decode().rstrip("\n")
            if not line and "id" in current:
                events.append((int(current["id"]), current["event"]))
                current = {}
            elif ": " in line and not line.startswith(":"):
                key, value = line.split(": ", 1)
                current.setdefault(key, value)
    except (ConnectionError, http.client.IncompleteRead):
        pass  # daphne died under the stream: what we got so far is what the page had
    finally:
        conn.close()
    return events


def test_it_resumes_an_sse_stream_from_last_event_id_across_a_daphne_restart(live_deploy):
    stack = live_deploy.stack
    execution_id = _submit(
        stack,
        {
            "name": "streamed",
            "steps": [
                # The later steps are longer so that the restart lands mid-execution even on a loaded machine.
                {
                    "id": f"s{i}",
                    "action": "delay",
                    "params": {"seconds": 0.7 if i < 3 else 3},
                    **({"depends_on": [f"s{i - 1}"]} if i else {}),
                }
                for i in range(6)
            ],
        },
    )
    before: list[tuple[int, str]] = []
    reader = threading.Thread(target=_sse_events, args=(stack, execution_id), kwargs={"into": before}, daemon=True)
    reader.start()
    stack.wait_for(lambda: len(before) >= 3, timeout=30, interval=0.05)

    restart_daphne(stack)  # the open stream is cut mid-execution
    reader.join(timeout=10)
    assert not _execution(stack, execution_id)["completed_at"], "the restart came too late to test a resume"
    after = _sse_events(stack, execution_id, last_event_id=before[-1][0])

    everything = _sse_events(stack, execution_id)  # a fresh page replays the whole log
    assert before + after == everything, "a gap or a duplicate across the restart"
    assert after[-1][1] == "execution_completed"
    assert len({i for i, _ in everything}) == len(everything)


@pytest.mark.skipif(PRODUCTION, reason="locks the SQLite file of the embedded configuration")
def test_it_loses_no_event_while_the_database_is_locked(live_deploy):
    deployments = [live_deploy.create(f"locked-{i}") for i in range(3)]
    for deployment in deployments:
        live_deploy.start(deployment["id"])
    # Another process holds the write lock while workers finish jobs and publish their events: they wait
    # (busy timeout), nothing is dropped.
    locker = sqlite3.connect(live_deploy.stack.dir / "portal.sqlite3", timeout=30, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    time.sleep(3)
    locker.execute("COMMIT")
    locker.close()

    finished = [live_deploy.wait_finished(d["id"]) for d in deployments]

    assert [d["status"] for d in finished] == ["running"] * 3, [d["error"] for d in finished]
    assert all(d["components"][0]["endpoint_url"] for d in finished)
    assert "stale_steps_recovered=0" in live_deploy.stack.manage("pipeline_sweep").stdout
