"""``transform``: reshape data with a Jinja expression, e.g. ``data.items | map(attribute='name') | list``.

``data`` is an ordinary param (usually ``{{ steps.fetch.outputs.json }}``, rendered by the runner); the
``expression`` is written bare and evaluated by the step with ``data`` and ``parameters`` in scope, through
the sandboxed render pool (``pipelines.actions.expressions``): a user's expression never runs in a worker.
"""

from __future__ import annotations

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, OutputSpec, ParamSpec
from pipelines.actions.expressions import RenderError, evaluate, expression_errors
from pipelines.actions.registry import register

SCOPE = frozenset({"data", "parameters", "params"})


@register
class TransformAction(Action):
    meta = ActionMeta(
        type="transform",
        name="Transform",
        description="Applies a Jinja expression to `data` (sandboxed); the value, type kept, is `result`.",
        category="Data",
        params=(
            ParamSpec("data", "json", required=True, description="The input, e.g. {{ steps.a.outputs.json }}"),
            ParamSpec(
                "expression", "string", required=True, description="Bare Jinja expression over `data`, `parameters`"
            ),
        ),
        outputs=(OutputSpec("result", "json", "The expression's value"),),
        timeout_seconds=60,
        icon="wand",
        color="#0ea5e9",
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        if "expression" in params:
            errors += expression_errors("expression", params["expression"], SCOPE)
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        scope = {"data": ctx.params.get("data"), "parameters": ctx.execution_parameters}
        scope["params"] = scope["parameters"]
        try:
            result = evaluate(str(ctx.params["expression"]), scope, "expression")
        except RenderError as exc:
            return ActionResult(success=False, error=f"could not evaluate {exc}")
        return ActionResult(success=True, outputs={"result": result})
