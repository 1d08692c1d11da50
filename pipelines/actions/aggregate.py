"""``aggregate``: merge the outputs of several finished steps into one step's outputs.

``strategy``: ``merge`` (one object, later steps' keys win), ``by_step`` ({step id: outputs}) or ``list``
(the outputs in the order given). The steps must have finished before this one runs: list them in
``depends_on`` too (a step that has not completed fails this one, saying so).
"""

from __future__ import annotations

import uuid
from typing import Any

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, OutputSpec, ParamSpec
from pipelines.actions.registry import register
from pipelines.models import StepExecution, StepStatus

STRATEGIES = ("merge", "by_step", "list")
MAX_STEPS = 100


@register
class AggregateAction(Action):
    meta = ActionMeta(
        type="aggregate",
        name="Aggregate",
        description="Merges the outputs of the listed steps (`merge`, `by_step` or `list`) into `result`.",
        category="Data",
        params=(
            ParamSpec("steps", "array", required=True, description="Step ids (also in depends_on)"),
            ParamSpec("strategy", "string", default="merge", description="merge, by_step or list"),
        ),
        outputs=(
            OutputSpec("result", "json", "The merged outputs"),
            OutputSpec("skipped", "array", "Listed steps that were skipped (left out of result)"),
        ),
        timeout_seconds=30,
        icon="layers",
        color="#f59e0b",
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        steps = params.get("steps")
        if "steps" in params and not (
            isinstance(steps, list) and 0 < len(steps) <= MAX_STEPS and all(isinstance(s, str) for s in steps)
        ):
            errors.append(f"steps: must be a list of 1 to {MAX_STEPS} step ids")
        if params.get("strategy", "merge") not in STRATEGIES:
            errors.append(f"strategy: must be one of {', '.join(STRATEGIES)}")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        wanted: list[str] = list(ctx.params["steps"])
        rows = StepExecution.objects.filter(execution_id=uuid.UUID(ctx.execution_id), step_id__in=wanted)
        found = {sid: (status, outputs) for sid, status, outputs in rows.values_list("step_id", "status", "outputs")}
        unfinished = [s for s in wanted if found.get(s, ("", {}))[0] not in (StepStatus.COMPLETED, StepStatus.SKIPPED)]
        if unfinished:
            return ActionResult(
                success=False, error=f"steps not completed: {', '.join(unfinished)} (add them to depends_on)"
            )
        done = [s for s in wanted if found[s][0] == StepStatus.COMPLETED]
        result: Any
        strategy = ctx.params.get("strategy", "merge")
        if strategy == "by_step":
            result = {s: found[s][1] for s in done}
        elif strategy == "list":
            result = [found[s][1] for s in done]
        else:
            result = {}
            for s in done:
                result.update(found[s][1] or {})
        return ActionResult(success=True, outputs={"result": result, "skipped": [s for s in wanted if s not in done]})
