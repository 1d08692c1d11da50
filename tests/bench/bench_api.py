"""``GET /api/deployments/{id}`` under 50 concurrent clients (threads, one keep-alive ``http.client`` connection
each) against daphne in a LiveStack; the deployment is a real one (valkey-cache on the Kubernetes API stand-in)."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from tests.bench import Table
from tests.bench._live import available_configs, live_stack, median, percentile

CLIENTS = 50
REQUESTS_PER_CLIENT = 40


def _deployment(stack, standin) -> str:
    _, cluster = stack.api("POST", "/api/clusters", json={"name": "bench", "kubeconfig": standin.kubeconfig()})
    _, created = stack.api(
        "POST", "/api/deployments", json={"name": "bench", "template": "valkey-cache", "cluster_id": cluster["id"]}
    )
    stack.api("POST", f"/api/deployments/{created['id']}/start")
    path = f"/api/deployments/{created['id']}"
    stack.wait_for(lambda: stack.api("GET", path)[1]["status"] == "running", timeout=120)
    return path


def _client(stack, path: str, latencies: list[float], errors: list[int], start: threading.Barrier) -> None:
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {stack.token}"}
    start.wait()
    for _ in range(REQUESTS_PER_CLIENT):
        began = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - began) * 1000)
        if response.status != 200:
            errors.append(response.status)
            if response.status == 429:  # rate limited: not this benchmark's subject, and it would skew it
                break
    conn.close()


def measure(stack, path: str) -> list:
    latencies: list[float] = []
    errors: list[int] = []
    start = threading.Barrier(CLIENTS + 1)
    threads = [threading.Thread(target=_client, args=(stack, path, latencies, errors, start)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    by_status = ", ".join(f"{n}× {code}" for code, n in sorted(Counter(errors).items())) or "0"
    return [median(latencies), percentile(latencies, 99), len(latencies) / wall, by_status]


def run() -> list[Table]:
    from clusterjobs.standin import KubeStandIn

    table = Table(
        f"GET /api/deployments/{{id}}, {CLIENTS} concurrent clients (LiveStack: daphne, 2 workers)",
        ["config", "web processes", "p50 (ms)", "p99 (ms)", "requests/s", "errors"],
        note=f"{CLIENTS} × {REQUESTS_PER_CLIENT} requests, keep-alive. Target: p99 ≤ 50 ms.",
    )
    for config in available_configs():
        for processes in web_processes():
            with KubeStandIn().start() as standin, live_stack(config, WEB_PROCESSES=str(processes)) as stack:
                path = _deployment(stack, standin)
                table.rows.append([config, processes, *measure(stack, path)])
    return [table]


def web_processes() -> list[int]:
    """``BENCH_WEB_PROCESSES=1,2`` measures one daphne and then two behind ``budportal.serve``."""
    return [int(n) for n in os.environ.get("BENCH_WEB_PROCESSES", "1").split(",") if n.strip()]
