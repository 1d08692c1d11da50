"""Open-loop load on ``GET /api/deployments/{id}``: requests are sent at a fixed arrival rate whatever the answers
do (latency counts from the moment a request was due, so queueing is not hidden), while SSE streams stay open.

``BENCH_RATE`` (200 req/s), ``BENCH_SECONDS`` (10), ``BENCH_STREAMS`` (100), ``BENCH_WEB_PROCESSES`` (1).
"""

from __future__ import annotations

import http.client
import os
import queue
import threading
import time
from urllib.parse import urlsplit

from tests.bench import Table
from tests.bench._live import available_configs, live_stack, median, percentile
from tests.bench.bench_api import _deployment, web_processes

SENDERS = 64  # connections taking due requests; more than the rate × a healthy latency needs


def _sender(stack, path: str, due: queue.Queue, latencies: list[float], errors: list[int]) -> None:
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {stack.token}"}
    while (when := due.get()) is not None:
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except OSError:
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            status = 0
        latencies.append((time.perf_counter() - when) * 1000)
        if status != 200:
            errors.append(status)
    conn.close()


def _stream(stack, path: str, opened: threading.Semaphore, stop: threading.Event) -> None:
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    conn.request("GET", path, headers={"Cookie": stack.session_cookie})
    response = conn.getresponse()
    opened.release()
    while not stop.is_set():
        try:
            if not response.readline():
                break
        except TimeoutError:
            continue
    conn.close()


def measure(stack, path: str, rate: float, seconds: float, streams: int) -> list:
    stop, opened = threading.Event(), threading.Semaphore(0)
    deployment_id = path.rsplit("/", 1)[1]
    readers = [
        threading.Thread(
            target=_stream, args=(stack, f"/deployments/{deployment_id}/events", opened, stop), daemon=True
        )
        for _ in range(streams)
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 60  # one deadline for all: streams that do not open are reported, not awaited
    connected = sum(opened.acquire(timeout=max(0.0, deadline - time.monotonic())) for _ in range(streams))
    if connected < streams:
        print(f"only {connected} of {streams} SSE streams opened within 60 s", flush=True)
    due: queue.Queue = queue.Queue()
    latencies: list[float] = []
    errors: list[int] = []
    senders = [
        threading.Thread(target=_sender, args=(stack, path, due, latencies, errors), daemon=True)
        for _ in range(SENDERS)
    ]
    for sender in senders:
        sender.start()
    began = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        when = began + i / rate
        pause = when - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put(when)
    for _ in senders:
        due.put(None)
    for sender in senders:
        sender.join()
    stop.set()
    achieved = len(latencies) / (time.perf_counter() - began)
    return [rate, streams, median(latencies), percentile(latencies, 99), round(achieved, 1), len(errors)]


def run() -> list[Table]:
    from clusterjobs.standin import KubeStandIn

    rate = float(os.environ.get("BENCH_RATE", "200"))
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    streams = int(os.environ.get("BENCH_STREAMS", "100"))
    table = Table(
        "GET /api/deployments/{id} at a fixed arrival rate with SSE streams open (LiveStack, 2 workers)",
        ["config", "web processes", "offered req/s", "SSE streams", "p50 (ms)", "p99 (ms)", "answered/s", "errors"],
        note=f"{seconds:g} s open-loop; latency from each request's due time. Target: p99 ≤ 50 ms at 200 req/s.",
    )
    for config in available_configs():
        for processes in web_processes():
            with KubeStandIn().start() as standin, live_stack(config, WEB_PROCESSES=str(processes)) as stack:
                path = _deployment(stack, standin)
                table.rows.append([config, processes, *measure(stack, path, rate, seconds, streams)])
                print("row:", table.rows[-1], flush=True)  # a long run cut short still leaves its rows
    return [table]
