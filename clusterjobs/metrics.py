"""Helm job timings for Prometheus (the histogram itself is defined with the others in ``pipelines.metrics``)."""

from __future__ import annotations

from clusterjobs.models import Job
from clusterjobs.validators import chart_ref_kind
from pipelines.metrics import HELM_INSTALL_SECONDS


def chart_label(ref: object) -> str:
    """A bundled chart by name; a remote one only by its scheme. Chart refs come from users: a label per
    registry URL would let anyone grow the metric without bound (one time series per distinct ref)."""
    kind = chart_ref_kind(ref) if isinstance(ref, str) else None
    if kind == "bundled" and isinstance(ref, str):
        return ref
    return kind or "none"


def observe_helm_job(job: Job, seconds: float) -> None:
    chart = chart_label((job.config or {}).get("chart_ref"))
    HELM_INSTALL_SECONDS.labels(job_type=str(job.job_type), chart=chart, status=str(job.status)).observe(seconds)
