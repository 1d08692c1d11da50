"""``agent-rag`` with parallel waves vs the same template as a strict chain (BudUseCases' behaviour).

A real portal (``LiveStack``: daphne + a django-q2 qcluster with 4 workers, SQLite file, ORM broker) deploys
into the Kubernetes API stand-in (a contract fake: nothing runs) with the real, pinned helm. Every workload
becomes ready ``BENCH_WAVES_DELAY`` seconds after it is created, so every install takes a fixed time.

- waves: ``[[vector_db, llm], agent_runtime]`` — critical path of 2 installs;
- chain: ``[vector_db, llm, agent_runtime]`` — 3 installs one after another.
Wall time = ``POST …/start`` → ``GET …`` first shows ``running``. Critical path = installs in sequence × the
time of one bare ``helm upgrade --install --wait`` against the same stand-in (Helm's ``--wait`` polls every 2 s,
so an install takes the delay rounded up to Helm's next poll). Target (tests/bench/README.md): waves ÷ chain ≤ 0.70.

Run: ``python -m tests.bench waves`` (``BENCH_WAVES_ROUNDS=3``, ``BENCH_WAVES_DELAY=9.5``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench import Table

ROUNDS = int(os.environ.get("BENCH_WAVES_ROUNDS", "2"))
DELAY = float(os.environ.get("BENCH_WAVES_DELAY", "9.5"))
ARMS = {"waves": ([["vector_db", "llm"], "agent_runtime"], 2), "chain": (["vector_db", "llm", "agent_runtime"], 3)}


def _ok(result: tuple[int, object], expected: int) -> object:
    status, body = result
    if status != expected:
        raise RuntimeError(f"HTTP {status}: {body}")
    return body


def _prepare(stack, standin) -> str:
    """Catalog loaded, the stand-in registered as a cluster, the chain variant of agent-rag saved."""
    stack.manage("sync_templates")
    cluster = _ok(stack.api("POST", "/api/clusters", {"name": "bench", "kubeconfig": standin.kubeconfig()}), 201)
    template = _ok(stack.api("GET", "/api/templates/agent-rag"), 200)
    document = {key: template[key] for key in ("display_name", "version", "description", "components", "parameters")}
    document.update(name="agent-rag-chain", deployment_order=ARMS["chain"][0])
    _ok(stack.api("POST", "/api/templates", document), 201)
    return cluster["id"]


def _bare_install(helm: str, standin) -> float:
    """One ``helm upgrade --install --wait`` of the qdrant chart, as a user would run it by hand."""
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = standin.write_kubeconfig(Path(tmp) / "kubeconfig")
        started = time.perf_counter()
        subprocess.run(
            [
                helm,
                "upgrade",
                "bare-qdrant",
                "charts/qdrant",
                "--install",
                "--namespace",
                "bare",
                "--create-namespace",
                "--atomic",
                "--wait",
                "--timeout",
                "120s",
                "--kubeconfig",
                str(kubeconfig),
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def _deploy(stack, cluster_id: str, template: str) -> float:
    body = {"name": f"b-{uuid.uuid4().hex[:8]}", "template": template, "cluster_id": cluster_id}
    deployment = _ok(stack.api("POST", "/api/deployments", body), 201)
    url = f"/api/deployments/{deployment['id']}"
    started = time.perf_counter()
    _ok(stack.api("POST", f"{url}/start"), 200)
    while True:
        current = _ok(stack.api("GET", url), 200)
        if current["status"] == "running":
            return time.perf_counter() - started
        if current["status"] != "deploying" or time.perf_counter() - started > 300:
            raise RuntimeError(f"deployment ended {current['status']}: {current['error']}")
        time.sleep(0.05)


def run() -> list[Table]:
    from django.conf import settings

    from clusterjobs.standin import KubeStandIn
    from tests.livestack import LiveStack

    env = {"LOG_LEVEL": "WARNING", "HELM_BINARY": settings.HELM_BINARY, "HELM_DEFAULT_TIMEOUT_SECONDS": "120"}
    with KubeStandIn() as standin, LiveStack(workers=4, env=env) as stack:
        standin.install_delay_seconds = DELAY
        cluster_id = _prepare(stack, standin)
        install = _bare_install(settings.HELM_BINARY, standin)
        walls = {arm: [] for arm in ARMS}
        for _ in range(ROUNDS):
            for arm, template in (("waves", "agent-rag"), ("chain", "agent-rag-chain")):
                walls[arm].append(_deploy(stack, cluster_id, template))
    medians = {arm: statistics.median(values) for arm, values in walls.items()}
    table = Table(
        f"agent-rag: parallel waves vs strict chain (workloads ready after {DELAY:g} s, one bare helm install "
        f"{install:.2f} s; {ROUNDS} rounds; median)",
        ["arm", "installs in sequence", "critical path s", "wall s (median)", "wall ÷ critical path", "runs s"],
        note=f"waves ÷ chain = {medians['waves'] / medians['chain']:.3f} (target ≤ 0.70)",
    )
    for arm, (_, depth) in ARMS.items():
        critical = depth * install
        table.rows.append(
            [arm, depth, critical, medians[arm], medians[arm] / critical, " ".join(f"{w:.2f}" for w in walls[arm])]
        )
    return [table]
