"""Engine throughput on real workers (issue 16): chain of 50 no-op steps (ms per hop) and a fan-out of 500
independent no-op steps (steps/s), 2 workers, embedded and — with DATABASE_URL and REDIS_URL — PostgreSQL + Redis.

Each shape runs ``BENCH_ROUNDS`` times (default 3) on one LiveStack; every round is printed, not only the best,
because the machine is shared and the numbers are noisy.
"""

from __future__ import annotations

import os
import statistics
from datetime import datetime

from tests.bench import PRODUCTION_LIKE_ENV, Table

CHAIN = 50
FAN_OUT = 500


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def chain_dag(n: int = CHAIN) -> dict:
    return {
        "name": "bench-chain",
        "steps": [
            {"id": f"c{i}", "action": "log", "params": {"message": "x"}, **({"depends_on": [f"c{i - 1}"]} if i else {})}
            for i in range(n)
        ],
    }


def fan_out_dag(n: int = FAN_OUT) -> dict:
    return {
        "name": "bench-fan-out",
        "steps": [{"id": f"w{i}", "action": "log", "params": {"message": "x"}} for i in range(n)],
    }


def run_dag(stack, dag: dict, timeout: float = 600) -> dict:
    status, body = stack.api("POST", "/api/executions", json=dag)
    assert status == 201, body
    path = f"/api/executions/{body['execution_id']}"
    stack.wait_for(lambda: stack.api("GET", path)[1]["completed_at"], timeout=timeout, interval=0.1)
    execution = stack.api("GET", path)[1]
    assert execution["status"] == "COMPLETED", execution["error"]
    return execution


def span_seconds(steps: list[dict]) -> float:
    """First step started → last step completed, from the rows the workers wrote."""
    return (max(_ts(s["completed_at"]) for s in steps) - min(_ts(s["started_at"]) for s in steps)).total_seconds()


def chain_ms_per_hop(stack) -> float:
    steps = run_dag(stack, chain_dag())["steps"]
    return span_seconds(steps) / CHAIN * 1000


def fan_out_steps_per_second(stack) -> float:
    steps = run_dag(stack, fan_out_dag())["steps"]
    return FAN_OUT / span_seconds(steps)


def configs() -> list[tuple[str, dict[str, str]]]:
    # Empty URLs: the embedded settings even when the environment names PostgreSQL and Redis. No URLs: LiveStack
    # gives PostgreSQL + Redis runs a new database and an emptied Redis database of their own (isolated_services).
    result = [("embedded (SQLite, ORM broker)", {"DATABASE_URL": "", "REDIS_URL": ""})]
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        result.append(("PostgreSQL + Redis", {}))
    only = os.environ.get("BENCH_CONFIG")  # "embedded" or "postgres": one of them
    if only:
        result = [c for c in result if only.lower() in c[0].lower()]
    return result


def run() -> list[Table]:
    from tests.livestack import LiveStack

    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    table = Table(
        f"Engine, 2 workers, no-op log steps (chain {CHAIN}, fan-out {FAN_OUT}), {rounds} rounds",
        ["config", "chain ms/hop (rounds)", "chain median", "fan-out steps/s (rounds)", "fan-out median"],
        note="Targets (issue 16): PostgreSQL + Redis chain ≤ 2 ms, fan-out ≥ 1,200/s; embedded ≤ 3 ms, ≥ 600/s.",
    )
    for label, env in configs():
        # One user's fan-out on both workers: the per-user limit (default Q_WORKERS - 1) raised to 2.
        fair = {"PIPELINE_MAX_RUNNING_STEPS_PER_USER": "2"}
        with LiveStack(workers=2, env={"LOG_LEVEL": "WARNING", **PRODUCTION_LIKE_ENV, **fair, **env}) as stack:
            run_dag(stack, chain_dag(5))  # warm both workers (imports, connections)
            chain, fan = [], []
            for _ in range(rounds):
                chain.append(chain_ms_per_hop(stack))
                fan.append(fan_out_steps_per_second(stack))
        table.rows.append(
            [
                label,
                " / ".join(f"{v:.2f}" for v in chain),
                statistics.median(chain),
                " / ".join(f"{v:.0f}" for v in fan),
                statistics.median(fan),
            ]
        )
    return [table]
