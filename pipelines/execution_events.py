"""What an execution tells the outside world: events on its callback topics (docs/architecture.md, Events).

Without ``callback_topics`` events go to ``pipelineExecutionEvents``, so the SSE stream and ``GET /api/events``
always see them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pipelines import metrics
from pipelines.events import EventType, publish, publish_many
from pipelines.logcontext import bind_log_context
from pipelines.models import PipelineExecution
from pipelines.progress import compute, percent_of, record

DEFAULT_TOPIC = "pipelineExecutionEvents"
# A worker reports an execution's progress at most this often: a chain of fast steps would otherwise pay an
# aggregate query, a read of every step and an event per step.
PROGRESS_INTERVAL_SECONDS = 0.5
# ``progress.compute`` reads every step row of the execution: in a wide DAG run in batches (issue 16) a report
# each 0.5 s cost ~40 % of the worker's time. Past this many steps the interval grows with the DAG (1 s at 500
# steps, 20 s at 10,000).
PROGRESS_INTERVAL_STEPS = 250
_last_progress: dict[Any, float] = {}  # execution pk → monotonic time of this process's last report


def topics(execution: PipelineExecution) -> list[str]:
    return list(execution.callback_topics or []) or [DEFAULT_TOPIC]


def _publish(
    execution: PipelineExecution, event_type: str, payload: dict[str, Any], step_id: str | None = None
) -> None:
    bind_log_context(execution_id=execution.pk, step_id=step_id, deployment_id=execution.deployment_id)
    body = {"type": event_type, "execution_id": str(execution.pk), "step_id": step_id, **payload}
    if execution.deployment_id:
        body["deployment_id"] = str(execution.deployment_id)
    for topic in topics(execution):
        publish(
            topic, event_type, body, execution_id=execution.pk, step_id=step_id, deployment_id=execution.deployment_id
        )


def step_event(
    execution: PipelineExecution,
    step_id: str,
    event_type: str,
    status: str,
    *,
    outputs: dict | None = None,
    error: str | None = None,
    progress: float | None = None,
) -> None:
    metrics.step_event_observed(execution, step_id, event_type, status)
    _publish(
        execution,
        event_type,
        {"status": status, "outputs": outputs or {}, "error": error or None, "progress": progress},
        step_id=step_id,
    )


StepEvent = tuple[str, str, str, dict | None, str | None]


def step_event_rows(execution: PipelineExecution, items: Sequence[StepEvent]) -> list[dict[str, Any]]:
    """The ``events.publish_many`` items of ``step_event`` for several steps: items are
    ``(step_id, event_type, status, outputs, error)``; one row per step and callback topic, in order."""
    rows = []
    for step_id, event_type, status, outputs, error in items:
        metrics.step_event_observed(execution, step_id, event_type, status)
        body = {
            "type": event_type,
            "execution_id": str(execution.pk),
            "step_id": step_id,
            "status": status,
            "outputs": outputs or {},
            "error": error or None,
            "progress": None,
        }
        if execution.deployment_id:
            body["deployment_id"] = str(execution.deployment_id)
        for topic in topics(execution):
            rows.append(
                {
                    "topic": topic,
                    "event_type": event_type,
                    "payload": body,
                    "execution_id": execution.pk,
                    "step_id": step_id,
                    "deployment_id": execution.deployment_id,
                }
            )
    if rows:
        bind_log_context(execution_id=execution.pk, deployment_id=execution.deployment_id)
    return rows


def step_events(execution: PipelineExecution, items: Sequence[StepEvent]) -> None:
    """``step_event`` for several steps with one INSERT (``events.publish_many``)."""
    rows = step_event_rows(execution, items)
    if rows:
        publish_many(rows)


def progress_event(execution: PipelineExecution) -> None:
    """``workflow_progress``, at most once per whole percent and per ``PROGRESS_INTERVAL_SECONDS`` (longer for a
    big DAG: ``PROGRESS_INTERVAL_STEPS``) per process (a 5,000-step DAG must not emit 5,000 of them);
    ``execution_completed`` carries the final 100 %."""
    now = time.monotonic()
    steps = len(execution.dag.get("steps") or []) if "dag" in execution.__dict__ else 0  # never load a deferred DAG
    interval = PROGRESS_INTERVAL_SECONDS * max(1.0, steps / PROGRESS_INTERVAL_STEPS)
    if now - _last_progress.get(execution.pk, -interval) < interval:
        return
    # ``execution.progress`` may be a little stale (another worker reported since): at worst one more event.
    if int(percent_of(execution)) <= int(execution.progress):
        return
    if len(_last_progress) > 1000:
        _last_progress.clear()
    _last_progress[execution.pk] = now
    progress = compute(execution)
    record(execution, progress["percent"])
    _publish(
        execution,
        EventType.WORKFLOW_PROGRESS,
        {
            "status": execution.status,
            "progress": progress["percent"],
            "eta_seconds": progress["eta_seconds"],
            "current_steps": progress["current_steps"],
        },
    )


def execution_event(execution: PipelineExecution) -> None:
    _publish(
        execution,
        EventType.EXECUTION_COMPLETED,
        {
            "status": execution.status,
            "error": execution.error or None,
            "outputs": execution.outputs,
            "progress": execution.progress,
        },
    )
