"""The production set-up with real processes: PostgreSQL, the django-q2 Redis broker shared by two qcluster
processes (two "worker machines"), and channels-redis carrying wake-ups from the workers to daphne's SSE streams.

Runs in the production pass of ``scripts/test.sh`` only (marker ``production``).
"""

import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis

from tests.livestack import ROOT, LiveStack
from tests.production.services import isolated_services

pytestmark = pytest.mark.production

PARALLEL_STEPS = 6
# Long enough that only a channel-layer wake-up, not the consumer's periodic re-read, explains a prompt event.
SLOW_SSE_POLL = "60"


def _fan_out_dag() -> dict:
    steps = [{"id": f"s{i}", "action": "delay", "params": {"seconds": 1}} for i in range(PARALLEL_STEPS)]
    steps.append(
        {"id": "done", "action": "log", "params": {"message": "all done"}, "depends_on": [step["id"] for step in steps]}
    )
    return {"name": "fan-out", "version": "1.0.0", "steps": steps}


@pytest.fixture
def stack() -> Iterator[LiveStack]:
    env = {
        "SSE_POLL_SECONDS": SLOW_SSE_POLL,
        "SSE_HEARTBEAT_SECONDS": SLOW_SSE_POLL,
        "PIPELINE_MAX_RUNNING_STEPS_PER_USER": "4",
    }  # one user's fan-out on all four workers of two machines
    with isolated_services() as services, LiveStack(workers=2, env={**env, **services}) as live:
        yield live


@pytest.fixture
def second_worker_machine(stack: LiveStack) -> Iterator[subprocess.Popen]:
    """Another qcluster on the same PostgreSQL + Redis, as a second worker machine would run it."""
    log = open(stack.dir / "qcluster-2.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _read_stream(stack: LiveStack, execution_id: str, into: list[str]) -> None:
    request = urllib.request.Request(
        f"{stack.url}/executions/{execution_id}/events", headers={"Cookie": stack.session_cookie}
    )
    with urllib.request.urlopen(request, timeout=float(SLOW_SSE_POLL) * 2) as response:
        for raw in response:
            into.append(raw.decode())


def _steps(stack: LiveStack, execution_id: str) -> dict[str, dict]:
    status, body = stack.api("GET", f"/api/executions/{execution_id}")
    assert status == 200, body
    return {step["step_id"]: step for step in body["steps"]}


def test_it_runs_a_fan_out_on_two_worker_machines_and_streams_it_through_redis(stack, second_worker_machine) -> None:
    status, execution = stack.api("POST", "/api/executions", json=_fan_out_dag())
    assert status == 201, execution
    lines: list[str] = []
    reader = threading.Thread(target=_read_stream, args=(stack, execution["execution_id"], lines), daemon=True)
    started = time.monotonic()
    reader.start()

    reader.join(timeout=float(SLOW_SSE_POLL) - 10)
    streamed = "".join(lines)

    assert not reader.is_alive(), f"the stream did not end before the slow poll: {streamed[-500:]}"
    assert time.monotonic() - started < float(SLOW_SSE_POLL) - 10
    assert "event: execution_completed" in streamed
    steps = _steps(stack, execution["execution_id"])
    assert {step["status"] for step in steps.values()} == {"COMPLETED"}
    spans = sorted(
        (datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["completed_at"]))
        for name, s in steps.items()
        if name != "done"
    )
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), "no two steps overlapped"
    # Each running cluster keeps its status under the Redis broker's stat key: both machines joined one broker.
    broker = redis.Redis.from_url(stack.env["REDIS_URL"])
    assert len(broker.keys("django_q:budportal:cluster:*")) == 2
