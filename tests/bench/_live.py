"""Shared by the API and SSE benchmarks: the configurations to measure and a LiveStack for each.

Embedded (SQLite file, ORM broker, in-memory layer) always; PostgreSQL + Redis too when ``DATABASE_URL`` and
``REDIS_URL`` are set (``scripts/services.sh start DIR && . DIR/env``), on an isolated database."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

CONFIGS = ("embedded", "postgresql+redis")


def available_configs() -> list[str]:
    configs = list(CONFIGS) if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL") else [CONFIGS[0]]
    wanted = os.environ.get("BENCH_CONFIGS")  # e.g. "postgresql+redis": only those
    return [c for c in configs if c in wanted.split(",")] if wanted else configs


@contextmanager
def live_stack(config: str, **env: str) -> Iterator:
    from tests.livestack import LiveStack

    # Empty URLs keep LiveStack from switching to the production services on its own when they are set.
    services = nullcontext({"DATABASE_URL": "", "REDIS_URL": ""})
    if config != "embedded":
        from tests.production.services import isolated_services

        services = isolated_services()
    with services as urls, LiveStack(workers=2, env={"LOG_LEVEL": "WARNING", **env, **urls}) as stack:
        yield stack


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
