"""``fail``: a step that fails with a message; with ``times`` it fails only the first N attempts (retry demos)."""

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.registry import register


@register
class FailAction(Action):
    meta = ActionMeta(
        type="fail",
        name="Fail",
        description="Fails with `message`. With `times: N` only attempts 1..N fail; later ones succeed.",
        category="Utility",
        params=(
            ParamSpec("message", "string", default="step failed on purpose"),
            ParamSpec("times", "integer", description="Fail only this many attempts, then succeed."),
        ),
        outputs=("attempt",),
        timeout_seconds=30,
    )

    def validate_params(self, params: dict) -> list[str]:
        times = params.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
            return ["times: must be a non-negative integer"]
        return []

    def execute(self, ctx: ActionContext) -> ActionResult:
        times = ctx.params.get("times")
        if times is not None and ctx.attempt > times:
            return ActionResult(success=True, outputs={"attempt": ctx.attempt})
        return ActionResult(success=False, error=str(ctx.params.get("message") or "step failed on purpose"))
