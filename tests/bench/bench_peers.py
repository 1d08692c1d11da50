"""This portal side by side with its peers (issue 16, item 6): chain of 50 no-op steps (ms per hop) and a
fan-out of 500 (steps/s), 2 workers each; the engines' order is rotated every round.

Peers: Celery 5 (prefork -c 2) and bare django-q2 (2 workers) on the same Redis server as the portal (each in a
Redis database of its own), Prefect 3 with a local server on SQLite and a 2-thread task runner. Each is one
script in tests/bench/peers/ run from a separate virtualenv (``BENCH_PEERS_PYTHON``, default
/tmp/bench-peers/bin/python; never the app's .venv) with tests/bench/peers/requirements.txt installed;
``make bench-peers`` does both. Needs DATABASE_URL and REDIS_URL (``scripts/services.sh``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.bench import PRODUCTION_LIKE_ENV, Table
from tests.bench.bench_engine import CHAIN, FAN_OUT, chain_dag, chain_ms_per_hop, fan_out_steps_per_second, run_dag

PEERS = Path(__file__).resolve().parent / "peers"
# Not the portal's settings: Celery's Django fix-up would try to import them from the peers' venv.
HIDDEN = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH", "SECRET_KEY")

Result = dict  # {"chain_ms_per_hop": float, "fan_out_per_s": float, "version": str}


def _peer(script: str, redis_db: int | None) -> Result:
    """One run of a peer script; ``redis_db``: its own database on the portal's Redis server (None: no Redis)."""
    python = os.environ.get("BENCH_PEERS_PYTHON", "/tmp/bench-peers/bin/python")
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN and k != "REDIS_URL"}
    if redis_db is not None:
        env["REDIS_URL"] = f"{os.environ['REDIS_URL'].rsplit('/', 1)[0]}/{redis_db}"
    out = subprocess.run(
        [python, script, str(CHAIN), str(FAN_OUT)],
        cwd=PEERS,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{script} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _portal() -> Result:
    from tests.livestack import LiveStack

    # One user's fan-out on both workers: the per-user limit (default Q_WORKERS - 1) raised to 2, as bench_engine.
    env = {"LOG_LEVEL": "WARNING", **PRODUCTION_LIKE_ENV, "PIPELINE_MAX_RUNNING_STEPS_PER_USER": "2"}
    with LiveStack(workers=2, env=env) as stack:
        run_dag(stack, chain_dag(5))  # warm both workers, as the peers warm theirs
        chain, fan = chain_ms_per_hop(stack), fan_out_steps_per_second(stack)
    return {"chain_ms_per_hop": chain, "fan_out_per_s": fan, "version": ""}


# (label, measure): the label's {version} is what the peer reports; the portal first (the ratios' base).
ENGINES: list[tuple[str, Callable[[], Result]]] = [
    ("this portal, PostgreSQL + Redis, 2 workers", _portal),
    ("Celery {version} (Redis, prefork -c 2)", partial(_peer, "celery_peer.py", 3)),
    ("bare django-q2 {version} (Redis broker, 2 workers)", partial(_peer, "djq_peer.py", 4)),
    ("Prefect {version} (local server on SQLite, 2 threads)", partial(_peer, "prefect_peer.py", None)),
]


def run() -> list[Table]:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise SystemExit("bench_peers needs DATABASE_URL and REDIS_URL (scripts/services.sh)")
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    results: dict[str, list[Result]] = {label: [] for label, _ in ENGINES}
    for round_no in range(rounds):
        shift = round_no % len(ENGINES)
        for label, measure in ENGINES[shift:] + ENGINES[:shift]:
            results[label].append(measure())
    table = Table(
        f"Side by side, 2 workers, chain {CHAIN} / fan-out {FAN_OUT} no-op steps, median of {rounds} rounds "
        "(order rotated per round)",
        [
            "engine",
            "chain ms per hop",
            "fan-out steps/s",
            "chain ÷ portal",
            "fan-out ÷ portal",
            "chain rounds",
            "fan-out rounds",
        ],
        note="chain ÷ portal < 1: the peer's hop is faster; fan-out ÷ portal > 1: the peer's fan-out is faster.",
    )
    medians = {
        label: (
            statistics.median(r["chain_ms_per_hop"] for r in runs),
            statistics.median(r["fan_out_per_s"] for r in runs),
        )
        for label, runs in results.items()
    }
    base_chain, base_fan = medians[ENGINES[0][0]]
    for label, runs in results.items():
        chain, fan = medians[label]
        chain_rounds = " / ".join(f"{r['chain_ms_per_hop']:.1f}" for r in runs)
        fan_rounds = " / ".join(f"{r['fan_out_per_s']:.0f}" for r in runs)
        name = label.format(version=runs[-1]["version"])
        ratios = [f"{chain / base_chain:.2f}", f"{fan / base_fan:.2f}"]
        table.rows.append([name, f"{chain:.1f}", f"{fan:.0f}", *ratios, chain_rounds, fan_rounds])
    return [table]
