"""``set_output``: publish the given ``values`` as the step's outputs (handy to name results for later steps)."""

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.registry import register


@register
class SetOutputAction(Action):
    meta = ActionMeta(
        type="set_output",
        name="Set outputs",
        description="Makes each key of `values` an output of this step, rendered with its type kept.",
        category="Utility",
        params=(ParamSpec("values", "object", required=True, description="Output name → value (Jinja allowed)."),),
        outputs=(),
        timeout_seconds=30,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        if "values" in params and not isinstance(params["values"], dict):
            errors.append("values: must be an object")
        return errors

    def declared_outputs(self, params: dict) -> set[str] | None:
        values = params.get("values")
        return set(values) if isinstance(values, dict) else set()

    def execute(self, ctx: ActionContext) -> ActionResult:
        return ActionResult(success=True, outputs=dict(ctx.params.get("values") or {}))
