"""Pipeline engine: submit+validate time by DAG size, per-step orchestration overhead, no-op steps per second.

Overhead and throughput run on LiveStack (embedded default: SQLite file, ORM broker polling every 0.2 s,
2 workers); submit+validate runs in-process on a SQLite file.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime

from tests.bench import PRODUCTION_LIKE_ENV, Table

SIZES = (100, 1_000, 5_000)
CHAIN_STEPS = 40
WIDE_STEPS = 300


def layered_dag(n: int, width: int = 10) -> dict:
    """``n`` log steps in waves of ``width``; every step depends on one step of the previous wave and
    references its output through Jinja, so validation does real work."""
    steps = []
    for i in range(n):
        step = {"id": f"s{i}", "action": "log", "params": {"message": f"step {i}"}}
        if i >= width:
            parent = f"s{i - width}"
            step["depends_on"] = [parent]
            step["params"] = {"message": "after {{ steps.%s.outputs.message }}" % parent}
        steps.append(step)
    return {"name": f"bench-{n}", "steps": steps}


def _best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def submit_table() -> Table:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from pipelines.services import execution_submit
    from pipelines.validation import validate_dag

    user, _ = get_user_model().objects.get_or_create(username="bench")
    table = Table("DAG validation and submit (in-process, SQLite file)",
                  ["steps", "validate (s)", "validate+submit (s)", "µs per step (submit)"],
                  note="Target: 5,000 steps ≤ 1 s, growing linearly.")
    for n in SIZES:
        dag = layered_dag(n)
        assert validate_dag(dag) == []
        validate = _best_of(lambda: validate_dag(dag))

        def submit() -> None:
            # Rolled back: only validation + the INSERTs are measured, not the workers.
            with transaction.atomic():
                execution_submit(dag=dag, owner=user)
                transaction.set_rollback(True)

        total = _best_of(submit)
        table.rows.append([n, validate, total, total / n * 1e6])
    return table


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _run(stack, dag: dict) -> dict:
    status, body = stack.api("POST", "/api/executions", json=dag)
    assert status == 201, body
    path = f"/api/executions/{body['execution_id']}"
    stack.wait_for(lambda: stack.api("GET", path)[1]["completed_at"], timeout=600, interval=0.25)
    execution = stack.api("GET", path)[1]
    assert execution["status"] == "COMPLETED", execution["error"]
    return execution


def overhead_rows(stack) -> list[list]:
    chain = {"name": "bench-chain", "steps": [
        {"id": f"c{i}", "action": "log", "params": {"message": "x"}, **({"depends_on": [f"c{i - 1}"]} if i else {})}
        for i in range(CHAIN_STEPS)
    ]}
    steps = {s["step_id"]: s for s in _run(stack, chain)["steps"]}
    gaps = [
        (_ts(steps[f"c{i}"]["started_at"]) - _ts(steps[f"c{i - 1}"]["completed_at"])).total_seconds() * 1000
        for i in range(1, CHAIN_STEPS)
    ]
    return [["per-step overhead p50 (ms)", statistics.median(gaps), "≤ 250 (embedded)"],
            ["per-step overhead p95 (ms)", _percentile(gaps, 95), ""]]


def throughput_rows(stack) -> list[list]:
    wide = {"name": "bench-wide", "steps": [{"id": f"w{i}", "action": "log", "params": {"message": "x"}}
                                            for i in range(WIDE_STEPS)]}
    submitted = time.monotonic()
    steps = _run(stack, wide)["steps"]
    wall = time.monotonic() - submitted
    span = (max(_ts(s["completed_at"]) for s in steps) - min(_ts(s["started_at"]) for s in steps)).total_seconds()
    return [["no-op steps/s, 2 workers (first start → last finish)", WIDE_STEPS / span, "≥ 300 (Redis+PostgreSQL)"],
            ["no-op steps/s incl. submit and polling the API", WIDE_STEPS / wall, ""]]


def run() -> list[Table]:
    from tests.livestack import LiveStack

    tables = [submit_table()]
    with LiveStack(workers=2, env={"LOG_LEVEL": "WARNING", **PRODUCTION_LIKE_ENV}) as stack:
        rows = overhead_rows(stack) + throughput_rows(stack)
    tables.append(Table("Orchestration on real workers (LiveStack: SQLite file, ORM broker poll 0.2 s, 2 workers)",
                        ["metric", "value", "target"], rows,
                        note=f"Chain of {CHAIN_STEPS} log steps; {WIDE_STEPS} independent log steps."))
    return tables
