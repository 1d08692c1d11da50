"""``conditional``: branch on a condition. Its ``result`` output decides later steps through their own
``condition`` (``"{{ steps.check.outputs.result }}"`` / ``"{{ not steps.check.outputs.result }}"``); a step
whose condition is false is SKIPPED, so each branch runs only when chosen.

``condition`` is an ordinary param, rendered by the runner in the DAG's scope (sandboxed, in the render
pool), so ``{{ steps.X.outputs.Y }}`` references are checked at submit like any other.
"""

from __future__ import annotations

from typing import Any

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, OutputSpec, ParamSpec
from pipelines.actions.expressions import truthy
from pipelines.actions.registry import register


@register
class ConditionalAction(Action):
    meta = ActionMeta(
        type="conditional",
        name="Conditional",
        description="Evaluates `condition` (Jinja); outputs `result` (true/false), `branch` and the chosen value.",
        category="Control flow",
        params=(
            ParamSpec("condition", "any", required=True, description="e.g. {{ steps.a.outputs.code == 200 }}"),
            ParamSpec("then", "json", description="The `value` output when the condition holds."),
            ParamSpec("else", "json", description="The `value` output when it does not."),
        ),
        outputs=(
            OutputSpec("result", "boolean", "Whether the condition held"),
            OutputSpec("branch", "string", "'then' or 'else'"),
            OutputSpec("value", "json", "`then` or `else`, whichever was chosen"),
        ),
        timeout_seconds=30,
        icon="git-branch",
        color="#a855f7",
        batchable=True,
    )

    def execute(self, ctx: ActionContext) -> ActionResult:
        result = truthy(ctx.params.get("condition"))
        branch = "then" if result else "else"
        value: Any = ctx.params.get(branch)
        return ActionResult(success=True, outputs={"result": result, "branch": branch, "value": value})
