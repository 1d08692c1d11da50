"""Portal overhead around one Helm install, against the bare ``helm upgrade --install`` of the same chart.

Both arms install ``charts/qdrant`` as a fresh release into the same Kubernetes API stand-in (a contract fake:
objects become ready after its install delay; nothing runs), with the same flags (``--atomic --wait``).

- bare: ``helm upgrade --install … --wait`` as a subprocess, kubeconfig on disk.
- portal, in-process worker: ``job_create`` → ``job_execute`` (queues the task) → the worker's
  ``execute_job`` called here → ``job_completed`` delivered to a ``budpipelineEvents`` subscriber. This is the
  portal's own cost: validation, kubeconfig decrypt + temp file, ``helm template`` + manifest checks, pyhelm3,
  endpoint discovery, the DB writes and the event.
- portal, qcluster worker: the same through a real ``manage.py qcluster`` (ORM broker, ``Q_POLL``), timed until
  the event row is committed: adds the queue hop a user actually waits for.

Run: ``python -m tests.bench helm`` (optionally ``BENCH_HELM_ROUNDS=9``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench import Table

ROUNDS = int(os.environ.get("BENCH_HELM_ROUNDS", "5"))
# 0 s: the stand-in makes objects ready at once (pure overhead); 1.5 s: a workload ready within one Helm --wait
# poll interval (2 s); 10 s: still far quicker than a real image pull or model load.
INSTALL_DELAYS = [float(d) for d in os.environ.get("BENCH_HELM_DELAYS", "0,1.5,10").split(",")]
CHART = "charts/qdrant"


def _bare_install(helm: str, kubeconfig: Path, chart_dir: Path, release: str, namespace: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            helm,
            "upgrade",
            release,
            str(chart_dir),
            "--install",
            "--namespace",
            namespace,
            "--create-namespace",
            "--atomic",
            "--wait",
            "--timeout",
            "120s",
            "--kubeconfig",
            str(kubeconfig),
            "--output",
            "json",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def _portal_install_inprocess(owner, cluster, release: str, namespace: str, delivered: dict) -> float:
    from django.db import transaction

    from clusterjobs import services, tasks

    started = time.perf_counter()
    job = services.job_create(
        owner=owner,
        cluster=cluster,
        job_type="helm_deploy",
        config={"chart_ref": CHART, "release_name": release, "namespace": namespace},
    )
    with transaction.atomic():
        services.job_execute(job_id=job.pk)
    tasks.execute_job(str(job.pk))  # what the django-q2 worker runs
    elapsed = delivered.pop(str(job.pk)) - started
    job.refresh_from_db()
    assert job.status == "COMPLETED", job.error
    return elapsed


def _portal_install_qcluster(owner, cluster, release: str, namespace: str) -> float:
    from django.db import transaction

    from clusterjobs import services
    from pipelines.models import Event

    started = time.perf_counter()
    job = services.job_create(
        owner=owner,
        cluster=cluster,
        job_type="helm_deploy",
        config={"chart_ref": CHART, "release_name": release, "namespace": namespace},
    )
    with transaction.atomic():
        services.job_execute(job_id=job.pk)
    while True:
        event = Event.objects.filter(workflow_id=str(job.pk)).only("type").first()
        if event is not None:
            elapsed = time.perf_counter() - started
            assert event.type == "job_completed", services.Job.objects.get(pk=job.pk).error
            return elapsed
        if time.perf_counter() - started > 180:
            raise RuntimeError("the qcluster worker did not finish the job in 180 s")
        time.sleep(0.005)


def _start_qcluster() -> subprocess.Popen:
    env = {**os.environ, "Q_WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _row(name: str, samples: list[float], bare: float) -> list:
    median = statistics.median(samples)
    return [name, len(samples), median, min(samples), median - bare, (median / bare - 1) * 100]


def run() -> list[Table]:
    from pipelines.events import subscribe

    delivered: dict[str, float] = {}
    subscribe(
        "budpipelineEvents",
        lambda e: delivered.setdefault(e.payload["workflow_id"], time.perf_counter()),
        name="bench.delivered",
    )
    return [_measure(delay, delivered) for delay in INSTALL_DELAYS]


def _measure(delay: float, delivered: dict[str, float]) -> Table:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from clusterjobs import services
    from clusterjobs.standin import KubeStandIn

    owner = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:6]}")
    standin = KubeStandIn().start()
    standin.install_delay_seconds = delay
    try:
        cluster = services.cluster_create(owner=owner, name="bench", kubeconfig=standin.kubeconfig())
        kubeconfig = Path(tempfile.mkdtemp()) / "kubeconfig"
        standin.write_kubeconfig(kubeconfig)
        chart_dir = Path(settings.CHARTS_DIR) / CHART.removeprefix("charts/")
        bare, inproc, queued = [], [], []
        for i in range(ROUNDS):  # interleaved, so drift in the machine's load hits both arms alike
            bare.append(_bare_install(settings.HELM_BINARY, kubeconfig, chart_dir, f"bare-{i}", f"uc-{i:08x}"))
            inproc.append(_portal_install_inprocess(owner, cluster, f"portal-{i}", f"uc-{i + 100:08x}", delivered))
        worker = _start_qcluster()
        try:
            time.sleep(3)  # let the cluster's worker process start
            for i in range(ROUNDS):
                queued.append(_portal_install_qcluster(owner, cluster, f"queued-{i}", f"uc-{i + 200:08x}"))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    finally:
        standin.stop()
    bare_median = statistics.median(bare)
    return Table(
        title=f"One Helm install of {CHART} into the stand-in (install delay {standin.install_delay_seconds:g} s)",
        columns=["arm", "n", "median s", "min s", "overhead s", "overhead %"],
        rows=[
            ["bare helm upgrade --install --wait", len(bare), bare_median, min(bare), 0.0, 0.0],
            _row("portal, in-process worker (job_create → event delivered)", inproc, bare_median),
            _row(f"portal, qcluster worker (ORM broker, poll {settings.Q_CLUSTER.get('poll')} s)", queued, bare_median),
        ],
        note=f"ratio portal/bare (in-process) = {statistics.median(inproc) / bare_median:.3f}; "
        f"(qcluster) = {statistics.median(queued) / bare_median:.3f}; target overhead ≤ 5 %",
    )
