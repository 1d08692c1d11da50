"""Service restarts lose nothing (issue 17.3), on the production configuration with real processes: an
agent-rag deployment is in flight on the stand-in when Redis or PostgreSQL restarts at a random moment.

Redis here keeps nothing on disk (``--save '' --appendonly no``), so a restart loses every queued task: the
sweep re-queues the steps whose message was lost, and the workers and daphne reconnect by themselves. While a
service is down ``/healthz`` says so (503). Two trials per service here (the production pass); the ten-trial
version, with worker and daphne restarts too, is ``python -m tests.bench restarts``. A reader follows the
execution's SSE stream throughout, reconnecting with ``Last-Event-ID`` as a browser does, and must end with
exactly the events of a fresh replay.
"""

from __future__ import annotations

import glob
import os
import random
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import psycopg
import pytest
import redis

from tests.reliability.conftest import PRODUCTION, DeployStack, restart_daphne
from tests.reliability.test_live import _sse_events

pytestmark = [
    pytest.mark.production,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not PRODUCTION, reason="restarts the PostgreSQL and Redis of the production pass"),
]

TRIALS = 2


def _healthz(stack) -> int:
    try:
        with urllib.request.urlopen(stack.url + "/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def restart_redis(stack, during=None) -> None:
    """SHUTDOWN NOSAVE (every queued task is lost), then the same server again on the same port."""
    url = urlparse(os.environ["REDIS_URL"])
    client = redis.Redis(host=url.hostname, port=url.port)
    config = {key: client.config_get(key)[key] for key in ("dir", "pidfile", "logfile")}
    try:
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    time.sleep(0.5)
    if during:
        during()
    subprocess.run(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(url.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--dir",
            config["dir"],
            "--pidfile",
            config["pidfile"],
            "--logfile",
            config["logfile"],
        ],
        check=True,
    )
    for _ in range(50):
        try:
            if redis.Redis(host=url.hostname, port=url.port).ping():
                return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("redis did not come back")


def restart_postgres(stack, during=None) -> None:
    """Fast shutdown (every connection is cut), then start the same cluster again."""
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        data = conn.execute("SHOW data_directory").fetchone()[0]
    (pg_ctl,) = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1:] or ["pg_ctl"]
    as_owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    # The server's own command line (port, sockets...): started again with exactly the same options.
    with open(os.path.join(data, "postmaster.opts")) as opts:
        options = " ".join(shlex.quote(arg) for arg in shlex.split(opts.read())[3:])  # after postgres -D DATA
    subprocess.run([*as_owner, pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], check=True, capture_output=True)
    if during:
        during()
    subprocess.run(
        [
            *as_owner,
            pg_ctl,
            "-D",
            data,
            "-w",
            "-t",
            "60",
            "-l",
            os.path.join(os.path.dirname(data), "server.log"),
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )


def restart_workers(stack, during=None) -> None:
    """SIGKILL the qcluster and its workers (a machine dies), then start a new one."""
    stack.kill("qcluster", signal.SIGKILL)
    if during:
        during()
    stack.start_qcluster()


def restart_web(stack, during=None) -> None:
    restart_daphne(stack)


RESTARTS = {"redis": restart_redis, "postgres": restart_postgres}
# The ten-trial benchmark also restarts these (single restarts of each are in tests/reliability/test_live.py).
ALL_RESTARTS = {**RESTARTS, "workers": restart_workers, "daphne": restart_web}


def _sweep_until_finished(live: DeployStack, deployment_id: str, timeout: float = 240) -> dict:
    """The sweep's schedule runs every minute; here it runs every few seconds (``pipeline_sweep --loop`` in
    production)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live.stack.manage("pipeline_sweep", check=False)
        try:
            current = live.get(deployment_id)
        except AssertionError:
            current = {"status": "?"}
        if current["status"] in ("running", "failed", "stopped"):
            return current
        time.sleep(2)
    raise TimeoutError(f"deployment {deployment_id} still {current['status']}")


@pytest.mark.parametrize("service", sorted(RESTARTS))
def test_it_finishes_agent_rag_deployments_across_a_restart_at_a_random_moment(live_deploy, service):
    live_deploy.stack.manage("sync_templates")
    live_deploy.standin.install_delay_seconds = 1.5  # each install waits a little: there is time to be hit
    rng = random.Random(f"{service}-17")
    for trial in range(TRIALS):
        run_trial(live_deploy, service, trial, rng)
    assert _healthz(live_deploy.stack) == 200


def _follow(stack, execution_id: str, into: list[tuple[int, str]], stop: threading.Event) -> None:
    """What a page's EventSource does: read the stream, and when it breaks reconnect with Last-Event-ID."""
    while not stop.is_set():
        try:
            _sse_events(stack, execution_id, into[-1][0] if into else None, into=into, timeout=30)
        except Exception:  # noqa: BLE001 - the service is down: try again, as the browser does
            pass
        if into and into[-1][1] == "execution_completed":
            return
        time.sleep(0.3)


def run_trial(live_deploy: DeployStack, service: str, trial: int, rng: random.Random) -> float:
    """One agent-rag deployment with ``service`` restarted at a random moment; returns its wall time (s)."""
    started = time.monotonic()
    stack = live_deploy.stack
    deployment = live_deploy.create(f"rs-{service[:2]}-{trial}", template="agent-rag")
    live_deploy.start(deployment["id"])
    execution_id = live_deploy.get(deployment["id"])["pipeline_execution_id"]
    streamed: list[tuple[int, str]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_follow, args=(stack, execution_id, streamed, stop), daemon=True)
    reader.start()
    time.sleep(rng.uniform(0.1, 4.0))
    seen: list[int] = []
    ALL_RESTARTS[service](stack, during=lambda: seen.append(_healthz(stack)))

    finished = _sweep_until_finished(live_deploy, deployment["id"])
    reader.join(timeout=60)
    stop.set()
    # The page's stream, across the restart, against a fresh replay of the whole log: no gap, no duplicate.
    assert streamed == _sse_events(stack, execution_id), f"{service}: the stream has a gap or a duplicate"

    if service in RESTARTS:
        assert seen == [503], f"/healthz answered {seen} while {service} was down"
    assert finished["status"] == "running", (trial, finished["error"], finished["components"])
    for component in finished["components"]:
        assert component["status"] == "running", component
        records = live_deploy.release_records(finished["namespace"], component["release_name"])
        statuses = [r["metadata"]["labels"]["status"] for r in records]
        # Re-running an install after a lost message is an upgrade of the same release, never a second
        # install beside the first: one release, its latest revision deployed, none left half-done.
        assert statuses, (
            component["release_name"],
            statuses,
        )
        assert statuses[-1] == "deployed", (
            component["release_name"],
            statuses,
        )
        assert not {"pending-install", "pending-upgrade"} & set(statuses), (
            component["release_name"],
            statuses,
        )
    return time.monotonic() - started
