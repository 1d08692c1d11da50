"""Scale with the work (issue 16, item 2): a 10,000-step fan-out and 1,000 concurrent executions on 2 workers,
the workers' RSS sampled every second (flat = no growth with the work), and the p99 of a detail GET meanwhile.

Prints numbers, asserts only that everything completed. PostgreSQL + Redis when DATABASE_URL and REDIS_URL are
set, else embedded. ``BENCH_FAN_OUT`` / ``BENCH_EXECUTIONS`` shrink it for a quick look.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

from tests.bench import PRODUCTION_LIKE_ENV, Table
from tests.bench.bench_engine import configs, fan_out_dag, span_seconds


def _children(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == pid]
        found += kids
        frontier += kids
    return found


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Largest worker process RSS (MB) once a second, for the qcluster's process tree."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.samples, self.done = root, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            sizes = [_rss_mb(pid) for pid in _children(self.root)]
            if sizes:
                self.samples.append(max(sizes))


class DetailProbe(threading.Thread):
    """GET /api/executions/{small} every 0.2 s while the work runs: how the API answers meanwhile."""

    def __init__(self, stack, path: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.path, self.ms, self.done = stack, path, [], threading.Event()
        self.errors = 0

    def run(self) -> None:
        while not self.done.wait(0.2):
            started = time.perf_counter()
            try:
                status, _ = self.stack.api("GET", self.path)
            except OSError:  # a dropped connection counts as an error, not the end of the probe
                self.errors += 1
                continue
            if status == 200:
                self.ms.append((time.perf_counter() - started) * 1000)


def _submit(stack, dag: dict) -> str:
    while True:
        status, body = stack.api("POST", "/api/executions", json=dag, timeout=120)
        if status == 201:
            return body["execution_id"]
        assert status == 429, (status, body)  # backpressure: wait as told
        time.sleep(1.0)


def _wait(stack, execution_id: str, timeout: float = 1800, interval: float = 2.0) -> dict:
    path = f"/api/executions/{execution_id}"
    stack.wait_for(lambda: stack.api("GET", path, timeout=120)[1]["completed_at"], timeout=timeout, interval=interval)
    body = stack.api("GET", path, timeout=120)[1]
    assert body["status"] == "COMPLETED", body["error"]
    return body


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _measure(stack, label: str, work) -> list:
    probe_id = _submit(stack, fan_out_dag(1))
    _wait(stack, probe_id, interval=0.2)
    sampler = RssSampler(stack.processes["qcluster"].pid)
    probe = DetailProbe(stack, f"/api/executions/{probe_id}")
    sampler.start(), probe.start()
    time.sleep(1.5)
    started = time.monotonic()
    try:
        detail = work()
    finally:
        sampler.done.set(), probe.done.set()
    wall = time.monotonic() - started
    rss = sampler.samples or [0.0]
    row = [
        label,
        f"{wall:.1f}",
        detail,
        f"{rss[0]:.0f} → {max(rss):.0f} → {rss[-1]:.0f}",
        f"{statistics.median(probe.ms or [0]):.0f} / {_p(probe.ms, 99):.0f} ({probe.errors} dropped)",
    ]
    print(" | ".join(str(cell) for cell in row), flush=True)  # a long run: each row as soon as it is measured
    return row


def run() -> list[Table]:
    from tests.livestack import LiveStack

    fan_out = int(os.environ.get("BENCH_FAN_OUT", "10000"))
    executions = int(os.environ.get("BENCH_EXECUTIONS", "1000"))
    table = Table(
        "Scale: 2 workers, no-op log steps",
        ["config / work", "wall (s)", "throughput", "worker RSS MB first → max → last", "detail GET p50 / p99 ms"],
        note="RSS: the largest qcluster process, sampled each second. Detail GET: a 1-step execution, every 0.2 s.",
    )
    for label, env in configs():
        fair = {"PIPELINE_MAX_RUNNING_STEPS_PER_USER": "2", "PIPELINE_MAX_QUEUE_DEPTH": "0"}
        with LiveStack(workers=2, env={"LOG_LEVEL": "WARNING", **PRODUCTION_LIKE_ENV, **fair, **env}) as stack:

            def big() -> str:
                steps = _wait(stack, _submit(stack, fan_out_dag(fan_out)))["steps"]
                return f"{fan_out / span_seconds(steps):.0f} steps/s"

            def many() -> str:
                dag = {
                    "name": "small",
                    "steps": [
                        {"id": "a", "action": "log", "params": {"message": "x"}},
                        {"id": "b", "action": "log", "params": {"message": "y"}, "depends_on": ["a"]},
                    ],
                }
                started = time.monotonic()
                ids = [_submit(stack, dag) for _ in range(executions)]
                submitted = time.monotonic() - started
                for execution_id in ids:
                    _wait(stack, execution_id, interval=0.5)
                rate = 2 * executions / (time.monotonic() - started)
                return f"{executions} submitted in {submitted:.0f} s; {rate:.0f} steps/s"

            table.rows.append(_measure(stack, f"{label}: fan-out of {fan_out}", big))
            table.rows.append(_measure(stack, f"{label}: {executions} executions × 2 steps", many))
    return [table]
