"""Restart trials (issue 17.3), ten per service: an agent-rag deployment in flight on the stand-in while Redis,
PostgreSQL, the workers or daphne restart at a random moment; every deployment must reach ``running`` with
each release installed once. Needs the production services (``DATABASE_URL`` and ``REDIS_URL``, from
``scripts/services.sh``): it restarts them. ``RESTART_TRIALS`` sets the number of trials (default 10)."""

from __future__ import annotations

import os
import random
import statistics

from tests.bench import Table

TRIALS = int(os.environ.get("RESTART_TRIALS", "10"))


def run() -> list[Table]:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("restarts: skipped (needs DATABASE_URL and REDIS_URL)")
        return []
    from clusterjobs.standin import KubeStandIn
    from tests.livestack import LiveStack
    from tests.production.services import isolated_services
    from tests.reliability.conftest import DeployStack
    from tests.reliability.test_restarts import ALL_RESTARTS, run_trial

    helm = os.environ.get("HELM_BINARY") or os.path.abspath(".venv/bin/helm")
    env = {
        "HELM_BINARY": helm,
        "PIPELINE_STEP_LEASE_SECONDS": "3",
        "HELM_DEFAULT_TIMEOUT_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
    }
    rows = []
    for service in ALL_RESTARTS:
        rng, times, failures = random.Random(f"{service}-bench"), [], []
        with (
            KubeStandIn().start() as standin,
            isolated_services() as urls,
            LiveStack(workers=2, env={**env, **urls}) as stack,
        ):
            live = DeployStack(stack, standin)
            stack.manage("sync_templates")
            standin.install_delay_seconds = 1.5
            for trial in range(TRIALS):
                try:
                    times.append(run_trial(live, service, trial, rng))
                except (AssertionError, TimeoutError) as exc:
                    failures.append(f"{trial}: {exc}"[:200])
        rows.append(
            [
                service,
                f"{TRIALS - len(failures)}/{TRIALS}",
                f"{statistics.median(times):.1f}" if times else "—",
                "; ".join(failures) or "—",
            ]
        )
    return [
        Table(
            f"Restart trials: agent-rag in flight, {TRIALS} random restarts per service",
            ["restarted", "reached running", "median wall time (s)", "failures"],
            rows,
        )
    ]
