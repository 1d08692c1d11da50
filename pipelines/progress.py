"""Execution progress: percent = mean of step percents (COMPLETED/SKIPPED = 100); ETA = the remaining critical
path, each remaining step estimated from how long the same work took before.

"The same work" is a step with the same action, the same ``cluster_id`` and the same chart (``chart_ref`` or
``selected_component``) in its params: installing Qdrant on the sandbox says nothing about installing a 7B model
on a GPU cluster. A step nothing comparable has finished for yet makes the ETA unknown (``None``): an honest
"no estimate yet" beats "0 s" for a step that takes minutes."""

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
    "params",
)


def _step_percent(row: dict) -> float:
    return 100.0 if row["status"] in STEP_DONE_OK else float(row["progress"] or 0.0)


Signature = tuple[str, str, str]
# How many recent finished steps are read for the estimates, and how many of each kind are averaged.
HISTORY_ROWS = 500
HISTORY_PER_SIGNATURE = 5
# A step that overran its estimate is still running: say "about a second", never "0 s".
OVERRUN_FLOOR_SECONDS = 1.0


def signature(action: str, params: dict[str, Any] | None) -> Signature:
    params = params if isinstance(params, dict) else {}
    chart = params.get("chart_ref") or params.get("selected_component") or ""
    return (action, str(params.get("cluster_id") or ""), str(chart))


def _history(signatures: set[Signature]) -> dict[Signature, float]:
    """Mean duration of the last few finished steps of each signature, over every execution."""
    rows = (
        StepExecution.objects.filter(
            status=StepStatus.COMPLETED,
            action__in={s[0] for s in signatures},
            started_at__isnull=False,
            completed_at__isnull=False,
        )
        .order_by("-completed_at")
        .values_list(
            "action",
            "params__cluster_id",
            "params__chart_ref",
            "params__selected_component",
            "started_at",
            "completed_at",
        )[:HISTORY_ROWS]
    )
    seen: dict[Signature, list[float]] = {}
    for action, cluster_id, chart_ref, selected, started, completed in rows:
        key = signature(action, {"cluster_id": cluster_id, "chart_ref": chart_ref, "selected_component": selected})
        if started and completed and key in signatures and len(seen.setdefault(key, [])) < HISTORY_PER_SIGNATURE:
            seen[key].append(max((completed - started).total_seconds(), 0.0))
    return {key: mean(durations) for key, durations in seen.items() if durations}


def _eta(rows: list[dict], finished: bool, dag_params: dict[str, dict]) -> float | None:
    if finished:
        return 0.0
    remaining = {r["step_id"]: r for r in rows if r["status"] not in STEP_FINISHED}
    if not remaining:
        return 0.0
    keys = {
        r["step_id"]: signature(r["action"], r["params"] or dag_params.get(r["step_id"])) for r in remaining.values()
    }
    history = _history(set(keys.values()))
    if any(key not in history for key in keys.values()):
        return None
    now = timezone.now()
    memo: dict[str, float] = {}

    def cost(row: dict) -> float:
        estimate = history[keys[row["step_id"]]]
        if row["status"] in (StepStatus.RUNNING, StepStatus.AWAITING_EVENT) and row["started_at"]:
            estimate = max(estimate - (now - row["started_at"]).total_seconds(), OVERRUN_FLOOR_SECONDS)
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


def _dag_params(execution: PipelineExecution) -> dict[str, dict]:
    """Each step's params as submitted: a step that has not run yet has no rendered params."""
    steps = (execution.dag or {}).get("steps") or []
    return {str(s.get("id")): s.get("params") or {} for s in steps if isinstance(s, dict)}


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
        "eta_seconds": _eta(rows, execution.is_finished, _dag_params(execution)),
        "current_steps": [r["step_id"] for r in rows if r["status"] in (StepStatus.RUNNING, StepStatus.AWAITING_EVENT)],
        "total_steps": len(rows),
        "completed_steps": sum(1 for r in rows if r["status"] in STEP_DONE_OK),
    }
    if with_steps:
        result["steps"] = [
            {**{k: v for k, v in r.items() if k != "params"}, "progress": _step_percent(r)} for r in rows
        ]
    return result


def record(execution: PipelineExecution, percent: float) -> None:
    """Store ``percent`` as the execution's progress when it is higher than what is stored (the worker that
    reports progress calls this; reads only compute)."""
    if percent > execution.progress:
        PipelineExecution.objects.filter(pk=execution.pk, progress__lt=percent).update(progress=percent)
        execution.progress = percent
