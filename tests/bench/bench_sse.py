"""Event committed → SSE client receives it: an execution of spaced-out steps is streamed from daphne while
workers publish its events; each event's latency is its arrival time minus its ``created_at`` (same clock)."""

from __future__ import annotations

import http.client
import threading
import time
from datetime import datetime
from urllib.parse import urlsplit

from tests.bench import Table
from tests.bench._live import available_configs, live_stack, median, percentile

STEPS = 30
SPACING_SECONDS = 0.15  # steps are spaced so that events arrive one by one, not in a burst


def _stream(stack, execution_id: str, arrivals: dict[int, float], connected: threading.Event) -> None:
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    conn.request("GET", f"/executions/{execution_id}/events", headers={"Cookie": stack.session_cookie})
    response = conn.getresponse()
    connected.set()
    while line := response.readline():
        if line.startswith(b"id: "):
            arrivals.setdefault(int(line[4:]), time.time())
    conn.close()


def _created(stack, execution_id: str) -> dict[int, float]:
    _, events = stack.api_all("/api/events")
    return {
        e["id"]: datetime.fromisoformat(e["created_at"].replace("Z", "+00:00")).timestamp()
        for e in events
        if e["execution_id"] == execution_id
    }


def measure(stack) -> list:
    # Submitted paused behind a first delay so the stream is connected (and has replayed nothing) first.
    steps = [{"id": "s0", "action": "delay", "params": {"seconds": 1.0}}] + [
        {"id": f"s{i}", "action": "delay", "params": {"seconds": SPACING_SECONDS}, "depends_on": [f"s{i - 1}"]}
        for i in range(1, STEPS)
    ]
    _, body = stack.api("POST", "/api/executions", json={"name": "bench-sse", "steps": steps})
    execution_id = body["execution_id"]
    arrivals: dict[int, float] = {}
    connected = threading.Event()
    reader = threading.Thread(target=_stream, args=(stack, execution_id, arrivals, connected), daemon=True)
    reader.start()
    connected.wait(30)
    reader.join(timeout=120)
    created = _created(stack, execution_id)
    # Events committed before the stream connected arrive by replay, not live: leave them out.
    first_live = min(arrivals.values())
    latencies = [(arrivals[i] - created[i]) * 1000 for i in arrivals if i in created and created[i] > first_live]
    return [len(latencies), median(latencies), percentile(latencies, 95), max(latencies)]


def run() -> list[Table]:
    table = Table(
        "Event committed → SSE client receives it (LiveStack: daphne, 2 workers)",
        ["config", "events", "p50 (ms)", "p95 (ms)", "max (ms)", "target p50"],
        note=f"{STEPS} chained delay steps, {SPACING_SECONDS} s apart. Embedded: daphne re-reads the event "
        "log every SSE_POLL_SECONDS (1 s); with Redis a channel-layer wake-up delivers at once.",
    )
    targets = {"embedded": "≤ 1,100", "postgresql+redis": "≤ 50"}
    for config in available_configs():
        with live_stack(config) as stack:
            table.rows.append([config, *measure(stack), targets[config]])
    return [table]
