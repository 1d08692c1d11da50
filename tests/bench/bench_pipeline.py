"""Pipeline engine: submit+validate time by DAG size, per-step orchestration overhead, no-op steps per second.

Overhead and throughput run on LiveStack (embedded default: SQLite file, ORM broker polling every 0.2 s,
2 workers); submit+validate runs in-process on a SQLite file.
"""

from __future__ import annotations

import os
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
    table = Table(
        "DAG validation and submit (in-process)",
        ["steps", "validate (s)", "validate+submit (s)", "µs per step (submit)"],
        note="Target: 5,000 steps ≤ 1 s, growing linearly.",
    )
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


def overhead_rows(stack, target: str) -> list[list]:
    chain = {
        "name": "bench-chain",
        "steps": [
            {"id": f"c{i}", "action": "log", "params": {"message": "x"}, **({"depends_on": [f"c{i - 1}"]} if i else {})}
            for i in range(CHAIN_STEPS)
        ],
    }
    steps = {s["step_id"]: s for s in _run(stack, chain)["steps"]}
    gaps = [
        (_ts(steps[f"c{i}"]["started_at"]) - _ts(steps[f"c{i - 1}"]["completed_at"])).total_seconds() * 1000
        for i in range(1, CHAIN_STEPS)
    ]
    return [
        ["per-step overhead p50 (ms)", statistics.median(gaps), target],
        ["per-step overhead p95 (ms)", _percentile(gaps, 95), ""],
    ]


def throughput_rows(stack, target: str) -> list[list]:
    wide = {
        "name": "bench-wide",
        "steps": [{"id": f"w{i}", "action": "log", "params": {"message": "x"}} for i in range(WIDE_STEPS)],
    }
    submitted = time.monotonic()
    steps = _run(stack, wide)["steps"]
    wall = time.monotonic() - submitted
    span = (max(_ts(s["completed_at"]) for s in steps) - min(_ts(s["started_at"]) for s in steps)).total_seconds()
    return [
        ["no-op steps/s, 2 workers (first start → last finish)", WIDE_STEPS / span, target],
        ["no-op steps/s incl. submit and polling the API", WIDE_STEPS / wall, ""],
    ]


def _configs() -> list[tuple[str, dict[str, str], tuple[str, str]]]:
    """The embedded default always; PostgreSQL + Redis too when DATABASE_URL and REDIS_URL are set.
    Each with its targets (tests/bench/README.md) (overhead p50, steps/s)."""
    # Empty URLs keep the embedded row embedded when the environment names PostgreSQL and Redis (LiveStack
    # would otherwise use them); no URLs give the PostgreSQL row an isolated database (isolated_services).
    configs = [("embedded: SQLite file, ORM broker poll 0.2 s", {"DATABASE_URL": "", "REDIS_URL": ""}, ("≤ 250", "—"))]
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        configs.append(("PostgreSQL + Redis broker", {}, ("≤ 20", "≥ 300")))
    return configs


def run() -> list[Table]:
    from django.db import connection

    from tests.livestack import LiveStack

    tables = [submit_table()]
    tables[0].title += f" [{connection.vendor}]"
    for label, env, (overhead_target, throughput_target) in _configs():
        # One user's fan-out on both workers: the per-user limit (default Q_WORKERS - 1) raised to 2.
        fair = {"PIPELINE_MAX_RUNNING_STEPS_PER_USER": "2"}
        with LiveStack(workers=2, env={"LOG_LEVEL": "WARNING", **PRODUCTION_LIKE_ENV, **fair, **env}) as stack:
            rows = overhead_rows(stack, overhead_target) + throughput_rows(stack, throughput_target)
        tables.append(
            Table(
                f"Orchestration on real workers (LiveStack, 2 workers, {label})",
                ["metric", "value", "target"],
                rows,
                note=f"Chain of {CHAIN_STEPS} log steps; {WIDE_STEPS} independent log steps.",
            )
        )
    return tables
