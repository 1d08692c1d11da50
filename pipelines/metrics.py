"""Prometheus metrics the pipeline layer records (the ``/metrics`` endpoint lives in ``budportal.metrics``).

With ``PROMETHEUS_MULTIPROC_DIR`` set (``scripts/portal.sh``, the chart) prometheus-client writes every
process's samples to files in that directory, so the web process can report what the django-q2 workers
observed. Counts that the database already knows (steps by status, queue depth) are not kept here: they are
computed at scrape time, which is exact and survives restarts.
"""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone
from prometheus_client import Gauge, Histogram

from pipelines.events import EventType
from pipelines.models import StepExecution

# Buckets from a no-op step (milliseconds) to a long Helm install (tens of minutes).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

STEP_SECONDS = Histogram(
    "budportal_step_duration_seconds",
    "Wall time of a pipeline step from step_started to its final event, by action and final status.",
    ["action", "status"],
    buckets=DURATION_BUCKETS,
)
HELM_INSTALL_SECONDS = Histogram(
    "budportal_helm_install_duration_seconds",
    "Wall time of one Helm job (upgrade --install ... --wait), by job type, chart and outcome.",
    ["job_type", "chart", "status"],
    buckets=DURATION_BUCKETS,
)
SSE_STREAMS_OPEN = Gauge(
    "budportal_sse_streams_open",
    "Server-Sent Events streams currently open.",
    multiprocess_mode="livesum",
)

FINAL_EVENTS = {EventType.STEP_COMPLETED, EventType.STEP_FAILED}
_started: dict[tuple[str, str], float] = {}  # (execution pk, step id) → monotonic time of its step_started
_actions: dict[str, dict[str, str]] = {}  # execution pk → {step id: action}, from the DAG already loaded


def step_event_observed(execution: Any, step_id: str | None, event_type: str, status: str) -> None:
    """Called where a step event is published: times steps without an extra query on the hot path.

    A step that finished in another process (one that waited for a Helm job) has no start time here; it is
    read from its row, once, on that slower path only.
    """
    if not step_id:
        return
    key = (str(execution.pk), step_id)
    if event_type == EventType.STEP_STARTED:
        if len(_started) > 10_000:  # steps of a killed run never finish here: do not grow without bound
            _started.clear()
        _started[key] = time.monotonic()
        return
    if event_type not in FINAL_EVENTS:
        return
    began = _started.pop(key, None)
    seconds = time.monotonic() - began if began is not None else _seconds_from_row(execution.pk, step_id)
    if seconds is not None:
        STEP_SECONDS.labels(action=_action(execution, step_id), status=str(status)).observe(seconds)


def _action(execution: Any, step_id: str) -> str:
    actions = _actions.get(str(execution.pk))
    if actions is None:
        dag = execution.__dict__.get("dag") or {}  # never a deferred-field query just for a label
        actions = {str(s.get("id")): str(s.get("action", "")) for s in dag.get("steps") or [] if isinstance(s, dict)}
        if len(_actions) > 200:
            _actions.clear()
        _actions[str(execution.pk)] = actions
    return actions.get(step_id) or "unknown"


def _seconds_from_row(execution_pk: Any, step_id: str) -> float | None:
    started = (
        StepExecution.objects.filter(execution_id=execution_pk, step_id=step_id)
        .values_list("started_at", flat=True)
        .first()
    )
    return (timezone.now() - started).total_seconds() if started else None
