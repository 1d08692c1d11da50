"""``set_output``: publish the given ``values`` as the step's outputs (handy to name results for later steps).

``outputs`` (BudPipeline's name for the same param) is accepted as an alias; giving both is an error."""

from typing import Any

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.registry import register


@register
class SetOutputAction(Action):
    meta = ActionMeta(
        type="set_output",
        name="Set outputs",
        description="Makes each key of `values` an output of this step, rendered with its type kept.",
        category="Utility",
        params=(
            ParamSpec(
                "values", "object", description="Output name → value (Jinja allowed). Required unless `outputs`."
            ),
            ParamSpec("outputs", "object", description="Alias of `values` (BudPipeline's name)."),
        ),
        outputs=(),
        timeout_seconds=30,
        batchable=True,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        given = [key for key in ("values", "outputs") if key in params]
        if not given:
            errors.append("values: required")
        elif len(given) == 2:
            errors.append("outputs: an alias of values; give one of them")
        for key in given:
            if not isinstance(params[key], dict):
                errors.append(f"{key}: must be an object")
        return errors

    def declared_outputs(self, params: dict) -> set[str] | None:
        values = _values(params)
        return set(values) if isinstance(values, dict) else set()

    def execute(self, ctx: ActionContext) -> ActionResult:
        return ActionResult(success=True, outputs=dict(_values(ctx.params) or {}))


def _values(params: dict) -> Any:
    return params["values"] if "values" in params else params.get("outputs")
