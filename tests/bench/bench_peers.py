"""This portal side by side with its peers (issue 16, item 6): chain of 50 no-op steps (ms per hop) and a
fan-out of 500 (steps/s), 2 workers each, one Redis; the engines' order is rotated every round.

The peers run from a separate virtualenv (``BENCH_PEERS_PYTHON``, default /tmp/bench-peers/bin/python; never the
app's .venv), e.g. ``python3 -m venv /tmp/bench-peers && /tmp/bench-peers/bin/pip install celery redis
django-q2 packaging``; ``make bench-peers`` does both. Needs DATABASE_URL and REDIS_URL (``scripts/services.sh``).
Prefect is not included (see tests/bench/README.md).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

from tests.bench import PRODUCTION_LIKE_ENV, Table
from tests.bench.bench_engine import CHAIN, FAN_OUT, chain_dag, chain_ms_per_hop, fan_out_steps_per_second, run_dag

PEERS = Path(__file__).resolve().parent / "peers"
HIDDEN = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH", "SECRET_KEY")


def _peer(script: str, env: dict[str, str]) -> dict:
    python = os.environ.get("BENCH_PEERS_PYTHON", "/tmp/bench-peers/bin/python")
    out = subprocess.run(
        [python, script, str(CHAIN), str(FAN_OUT)],
        cwd=PEERS,
        # Not the portal's settings: Celery's Django fix-up would try to import them from the peers' venv.
        env={**{k: v for k, v in os.environ.items() if k not in HIDDEN}, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{script} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[Table]:
    from tests.livestack import LiveStack

    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise SystemExit("bench_peers needs DATABASE_URL and REDIS_URL (scripts/services.sh)")
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    urls = {k: os.environ[k] for k in ("DATABASE_URL", "REDIS_URL")}
    results: dict[str, list[tuple[float, float]]] = {}

    def portal() -> tuple[float, float]:
        env = {"LOG_LEVEL": "WARNING", **PRODUCTION_LIKE_ENV, "PIPELINE_MAX_RUNNING_STEPS_PER_USER": "2"}
        with LiveStack(workers=2, env=env) as stack:
            run_dag(stack, chain_dag(5))
            return chain_ms_per_hop(stack), fan_out_steps_per_second(stack)

    def celery() -> tuple[float, float]:
        result = _peer("celery_peer.py", {"REDIS_URL": urls["REDIS_URL"].rsplit("/", 1)[0] + "/3"})
        return result["chain_ms_per_hop"], result["fan_out_per_s"]

    def django_q2() -> tuple[float, float]:
        result = _peer("djq_peer.py", {"REDIS_URL": urls["REDIS_URL"].rsplit("/", 1)[0] + "/4"})
        return result["chain_ms_per_hop"], result["fan_out_per_s"]

    engines = [
        ("this portal, PostgreSQL + Redis", portal),
        ("Celery 5 (Redis, prefork -c 2)", celery),
        ("bare django-q2 (Redis broker)", django_q2),
    ]
    for round_no in range(rounds):
        order = engines[round_no % len(engines) :] + engines[: round_no % len(engines)]
        for name, measure in order:
            results.setdefault(name, []).append(measure())
    table = Table(
        f"Side by side, 2 workers, chain {CHAIN} / fan-out {FAN_OUT} no-op steps, median of {rounds} rounds "
        "(order rotated per round)",
        ["engine", "chain ms per hop", "fan-out steps/s", "chain ÷ portal", "fan-out ÷ portal", "rounds (chain | fan)"],
    )
    base = results[engines[0][0]]
    base_chain, base_fan = statistics.median(c for c, _ in base), statistics.median(f for _, f in base)
    for name, _ in engines:
        chain = statistics.median(c for c, _ in results[name])
        fan = statistics.median(f for _, f in results[name])
        rounds_text = (
            " ".join(f"{c:.1f}" for c, _ in results[name]) + " | " + " ".join(f"{f:.0f}" for _, f in results[name])
        )
        table.rows.append([name, chain, fan, f"{chain / base_chain:.2f}", f"{fan / base_fan:.2f}", rounds_text])
    return [table]
