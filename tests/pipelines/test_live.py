"""Against real processes (LiveStack: SQLite file, a qcluster with 2 workers, daphne): what sync tasks cannot show."""

import http.client
import json
import signal
import time
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from tests.livestack import LiveStack

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack():
    # One user's independent steps on both workers: the per-user limit (default Q_WORKERS - 1) raised to 2.
    env = {"PIPELINE_STEP_LEASE_SECONDS": "3", "PIPELINE_MAX_RUNNING_STEPS_PER_USER": "2"}
    with LiveStack(workers=2, env=env) as live:
        yield live


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_to_end(stack: LiveStack, dag: dict, timeout: float = 60) -> dict:
    status, body = stack.api("POST", "/api/executions", json=dag)
    assert status == 201, body
    path = f"/api/executions/{body['execution_id']}"
    stack.wait_for(lambda: stack.api("GET", path)[1]["completed_at"], timeout=timeout)
    return stack.api("GET", path)[1]


def diamond(**settings) -> dict:
    delay = {"seconds": 1.0}
    return {
        "name": "diamond",
        "settings": settings,
        "steps": [
            {"id": "a", "action": "log", "params": {"message": "start"}},
            {"id": "b", "action": "delay", "depends_on": ["a"], "params": delay},
            {"id": "c", "action": "delay", "depends_on": ["a"], "params": delay},
            {"id": "d", "action": "log", "depends_on": ["b", "c"], "params": {"message": "joined"}},
        ],
    }


def test_it_runs_the_branches_of_a_diamond_concurrently(stack):
    execution = run_to_end(stack, diamond())
    assert execution["status"] == "COMPLETED"
    s = {step["step_id"]: step for step in execution["steps"]}
    b_start, b_end, c_start, c_end = (ts(s[x][k]) for x in "bc" for k in ("started_at", "completed_at"))
    assert b_start < c_end, "b and c did not overlap"
    assert c_start < b_end, "b and c did not overlap"
    assert ts(s["d"]["started_at"]) >= max(b_end, c_end)
    assert ts(s["b"]["started_at"]) >= ts(s["a"]["completed_at"])


def test_it_bounds_parallelism_by_max_parallel_steps(stack):
    s = {step["step_id"]: step for step in run_to_end(stack, diamond(max_parallel_steps=1))["steps"]}
    first, second = sorted("bc", key=lambda x: s[x]["started_at"])
    assert ts(s[second]["started_at"]) >= ts(s[first]["completed_at"])


def test_it_streams_events_over_sse_while_the_execution_runs(stack):
    status, body = stack.api("POST", "/api/executions", json=diamond())
    execution_id = body["execution_id"]
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", f"/executions/{execution_id}/events", headers={"Cookie": stack.session_cookie})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    received, current = [], {}
    while line := response.readline():
        line = line.decode().rstrip("\n")
        if not line and current:
            received.append((time.monotonic(), current))
            current = {}
        elif ": " in line and not line.startswith(":"):
            key, value = line.split(": ", 1)
            current[key] = value
    conn.close()
    types = [event["event"] for _, event in received]
    assert types[0] == "step_started"
    assert types[-1] == "execution_completed"
    assert types.count("step_completed") == 4
    ids = [int(event["id"]) for _, event in received]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # Streamed live, not dumped at the end: the first event came well before the last.
    assert received[-1][0] - received[0][0] > 0.8
    assert json.loads(received[-1][1]["data"])["status"] == "COMPLETED"
    # Another user's session gets a 404.
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", f"/executions/{execution_id}/events")
    assert conn.getresponse().status == 404


def test_it_recovers_a_step_whose_worker_was_killed(stack):
    dag = {
        "name": "killed",
        "steps": [
            {"id": "slow", "action": "delay", "params": {"seconds": 4}},
            {"id": "after", "action": "log", "depends_on": ["slow"], "params": {"message": "ok"}},
        ],
    }
    status, body = stack.api("POST", "/api/executions", json=dag)
    path = f"/api/executions/{body['execution_id']}"
    stack.wait_for(lambda: stack.api("GET", path)[1]["steps"][0]["status"] == "RUNNING", timeout=30)
    stack.kill("qcluster", signal.SIGKILL)
    stack.start_qcluster()
    # The sweep recovers the step once the killed attempt's lease (3 s) has expired.
    stack.wait_for(lambda: "stale_steps_recovered=1" in stack.manage("pipeline_sweep").stdout, timeout=30)
    stack.wait_for(lambda: stack.api("GET", path)[1]["completed_at"], timeout=60)
    execution = stack.api("GET", path)[1]
    assert execution["status"] == "COMPLETED"
    assert [(s["step_id"], s["status"], s["attempt"]) for s in execution["steps"]] == [
        ("slow", "COMPLETED", 2),
        ("after", "COMPLETED", 1),
    ]
