"""``python -m budportal.serve``: N web processes (uvicorn) on one port, replaced when one dies, SSE across them."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.livestack import LiveStack
from tests.production.conftest import ROOT

pytestmark = pytest.mark.live


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _wait(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise TimeoutError


def _status(port: int, path: str = "/healthz") -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0


def test_it_runs_n_processes_on_one_port_and_replaces_a_dead_one(tmp_path: Path, free_tcp_port: int) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "budportal.settings", "BUDPORTAL_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None), env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    port = free_tcp_port
    argv = [sys.executable, "-m", "budportal.serve", "-b", "127.0.0.1", "-p", str(port), "-n", "2"]
    supervisor = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        first = _wait(lambda: len(_children(supervisor.pid)) == 2 and _children(supervisor.pid))
        _wait(lambda: all(_status(port) == 200 for _ in range(4)))
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: len(_children(supervisor.pid) - {victim}) == 2)  # a new one took its place
        assert victim not in _children(supervisor.pid)
        _wait(lambda: all(_status(port) == 200 for _ in range(6)))
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        assert _status(port) == 0  # nothing answers any more
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_sse_streams_on_every_process_get_the_workers_events_quickly() -> None:
    """Embedded default, two web processes: streams are woken by each process's SQLite watcher, so a chain of
    steps reaches every stream long before the 30 s re-read (SSE_POLL_SECONDS) would deliver it."""
    with LiveStack(env={"WEB_PROCESSES": "2", "SSE_POLL_SECONDS": "30", "LOG_LEVEL": "WARNING"}) as stack:
        steps = [{"id": "s0", "action": "delay", "params": {"seconds": 1.0}}] + [
            {"id": f"s{i}", "action": "log", "params": {"message": "x"}, "depends_on": [f"s{i - 1}"]}
            for i in range(1, 4)
        ]
        _, body = stack.api("POST", "/api/executions", json={"name": "sse-n", "steps": steps})
        port = int(stack.url.rsplit(":", 1)[1])
        conns = []
        for _ in range(6):  # the kernel spreads the connections over both processes
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            conn.request("GET", f"/executions/{body['execution_id']}/events", headers={"Cookie": stack.session_cookie})
            conns.append(conn.getresponse())
        began = time.monotonic()
        for response in conns:
            seen = []
            while "execution_completed" not in seen:
                line = response.readline().decode()
                assert line, "stream closed before execution_completed"
                if line.startswith("event: "):
                    seen.append(line[7:].strip())
        assert time.monotonic() - began < 15  # far below the 30 s poll


def test_uvicorn_believes_no_proxy_headers_and_daphne_stays_available() -> None:
    from budportal.serve import server_argv

    uvicorn = server_argv("uvicorn", 7, [])
    assert uvicorn[1:3] == ["-m", "uvicorn"]
    assert "--no-proxy-headers" in uvicorn  # X-Forwarded-For only through TRUSTED_PROXIES (budportal/client_ip.py)
    assert uvicorn[uvicorn.index("--fd") + 1] == "7"
    assert uvicorn[-1] == "budportal.asgi:application"
    daphne = server_argv("daphne", 7, ["--proxy-headers-host", "x"])
    assert daphne[1:5] == ["-m", "daphne", "--fd", "7"]


def test_the_connections_it_accepts_send_small_responses_without_waiting_for_an_ack() -> None:
    """uvicorn opens the inherited socket as a UNIX socket and so never sets TCP_NODELAY on what it accepts;
    the listening socket carries it, and Linux copies it to each accepted connection. Without it a keep-alive
    client waited ~40 ms per response for Nagle's algorithm and the client's delayed ACK."""
    import socket

    from budportal.serve import listening_socket

    with listening_socket("127.0.0.1", 0) as server:
        with socket.create_connection(server.getsockname()[:2]):
            accepted, _ = server.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
