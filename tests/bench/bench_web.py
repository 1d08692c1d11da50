"""Open-loop load on ``GET /api/deployments/{id}``: requests are sent at a fixed arrival rate whatever the answers
do (latency counts from the moment a request was due, so queueing is not hidden), while SSE streams stay open.
``BENCH_WEB_SERVERS`` as in ``bench_api``.

``BENCH_RATE`` (200 req/s), ``BENCH_SECONDS`` (10), ``BENCH_STREAMS`` (100), ``BENCH_WEB_PROCESSES`` (1).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from tests.bench import Table
from tests.bench._live import available_configs, live_stack, median, percentile
from tests.bench.bench_api import _deployment, cpu_seconds, web_pids, web_processes, web_servers
from tests.bench.loadgen import open_loop


def measure(stack, path: str, rate: float, seconds: float, streams: int) -> list:
    """The streams are the deployment page's health stream, which stays open while the deployment runs (its main
    stream ends once the deployment rests). The load comes from one asyncio process (tests/bench/loadgen.py)."""
    url = urlsplit(stack.url)
    deployment_id = path.rsplit("/", 1)[1]
    sse = (f"/deployments/{deployment_id}/health-events", stack.session_cookie)
    api = (path, f"Authorization: Bearer {stack.token}\r\n")
    pids = web_pids(stack)
    cpu = cpu_seconds(pids)
    result = open_loop((url.hostname, url.port), api, sse, rate, seconds, streams)
    cpu = cpu_seconds(pids) - cpu
    if result.streams_opened < streams:
        print(f"only {result.streams_opened} of {streams} SSE streams opened within 60 s", flush=True)
    latencies = result.latencies_ms
    answered = len(latencies) / result.seconds
    # The web processes' CPU over the whole run (streams opening included), per API request.
    per_request = round(cpu / max(1, len(latencies)) * 1000, 2)
    return [
        rate,
        result.streams_opened,
        median(latencies),
        percentile(latencies, 99),
        round(answered, 1),
        len(result.errors),
        per_request,
    ]


def run() -> list[Table]:
    from clusterjobs.standin import KubeStandIn

    rate = float(os.environ.get("BENCH_RATE", "200"))
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    streams = int(os.environ.get("BENCH_STREAMS", "100"))
    table = Table(
        "GET /api/deployments/{id} at a fixed arrival rate with SSE streams open (LiveStack, 2 workers)",
        [
            "config",
            "server",
            "web processes",
            "offered req/s",
            "SSE streams open",
            "p50 (ms)",
            "p99 (ms)",
            "answered/s",
            "errors",
            "web CPU ms/request",
        ],
        note=f"{seconds:g} s open-loop; latency from each request's due time. Target: p99 ≤ 50 ms at 200 req/s.",
    )
    for config in available_configs():
        for server in web_servers():
            for processes in web_processes():
                env = {"WEB_PROCESSES": str(processes), "WEB_SERVER": server}
                with KubeStandIn().start() as standin, live_stack(config, **env) as stack:
                    path = _deployment(stack, standin)
                    table.rows.append([config, server, processes, *measure(stack, path, rate, seconds, streams)])
                    print("row:", table.rows[-1], flush=True)  # a long run cut short still leaves its rows
    return [table]
