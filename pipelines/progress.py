"""Execution progress: percent = mean of step percents (COMPLETED/SKIPPED = 100); ETA = the remaining critical
path, each remaining step estimated from the durations of finished steps (same action first, else all)."""

from __future__ import annotations

from statistics import mean
from typing import Any

from django.db.models import Avg, Case, F, FloatField, Value, When
from django.utils import timezone

from pipelines.models import STEP_DONE_OK, STEP_FINISHED, ExecutionStatus, PipelineExecution, StepExecution, StepStatus

STEP_FIELDS = (
    "step_id",
    "action",
    "status",
    "progress",
    "attempt",
    "error",
    "depends_on",
    "started_at",
    "completed_at",
    "external_workflow_id",
)


def _step_percent(row: dict) -> float:
    return 100.0 if row["status"] in STEP_DONE_OK else float(row["progress"] or 0.0)


def _durations(rows: list[dict]) -> dict[str, list[float]]:
    by_action: dict[str, list[float]] = {}
    for row in rows:
        if row["status"] == StepStatus.COMPLETED and row["started_at"] and row["completed_at"]:
            seconds = (row["completed_at"] - row["started_at"]).total_seconds()
            by_action.setdefault(row["action"], []).append(max(seconds, 0.0))
    return by_action


def _eta(rows: list[dict], finished: bool) -> float | None:
    if finished:
        return 0.0
    by_action = _durations(rows)
    if not by_action:
        return None
    overall = mean(d for ds in by_action.values() for d in ds)
    per_action = {action: mean(ds) for action, ds in by_action.items()}
    now = timezone.now()
    remaining = {r["step_id"]: r for r in rows if r["status"] not in STEP_FINISHED}
    memo: dict[str, float] = {}

    def cost(row: dict) -> float:
        estimate = per_action.get(row["action"], overall)
        if row["status"] in (StepStatus.RUNNING, StepStatus.AWAITING_EVENT) and row["started_at"]:
            estimate = max(estimate - (now - row["started_at"]).total_seconds(), 0.0)
        return estimate

    # Longest path ending at each remaining step, iteratively over a dependency-ordered walk (no recursion
    # limit on long chains).
    for step_id in _topological(remaining):
        row = remaining[step_id]
        before = max((memo[d] for d in row["depends_on"] if d in memo), default=0.0)
        memo[step_id] = before + cost(row)
    return round(max(memo.values(), default=0.0), 1)


def _topological(remaining: dict[str, dict]) -> list[str]:
    order, state = [], {}
    for root in remaining:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                state[node] = 2
                order.append(node)
                continue
            if state.get(node):
                continue
            state[node] = 1
            stack.append((node, True))
            stack.extend((d, False) for d in remaining[node]["depends_on"] if d in remaining and not state.get(d))
    return order


def percent_of(execution: PipelineExecution) -> float:
    """Mean step percent in one aggregate query (the cheap check before a full ``compute``)."""
    value = StepExecution.objects.filter(execution=execution).aggregate(
        p=Avg(Case(When(status__in=STEP_DONE_OK, then=Value(100.0)), default=F("progress"), output_field=FloatField()))
    )["p"]
    return float(value or 0.0)


def compute(execution: PipelineExecution, *, with_steps: bool = False) -> dict[str, Any]:
    rows = list(StepExecution.objects.filter(execution=execution).order_by("position").values(*STEP_FIELDS))
    percent = mean(_step_percent(r) for r in rows) if rows else 0.0
    if execution.status == ExecutionStatus.COMPLETED:
        percent = 100.0
    # Never backwards: the highest value recorded so far wins (a retried step restarts at 0 %). A read never
    # writes: the worker that reports progress records it (``record``).
    result: dict[str, Any] = {
        "execution_id": str(execution.pk),
        "status": execution.status,
        "percent": round(max(percent, execution.progress), 1),
        "eta_seconds": _eta(rows, execution.is_finished),
        "current_steps": [r["step_id"] for r in rows if r["status"] in (StepStatus.RUNNING, StepStatus.AWAITING_EVENT)],
        "total_steps": len(rows),
        "completed_steps": sum(1 for r in rows if r["status"] in STEP_DONE_OK),
    }
    if with_steps:
        result["steps"] = [{**r, "progress": _step_percent(r)} for r in rows]
    return result


def record(execution: PipelineExecution, percent: float) -> None:
    """Store ``percent`` as the execution's progress when it is higher than what is stored (the worker that
    reports progress calls this; reads only compute)."""
    if percent > execution.progress:
        PipelineExecution.objects.filter(pk=execution.pk, progress__lt=percent).update(progress=percent)
        execution.progress = percent
