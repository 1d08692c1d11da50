"""``delay``: sleep a bounded number of seconds (demos, tests of parallelism and timeouts)."""

import time

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.registry import register

MAX_DELAY_SECONDS = 300


@register
class DelayAction(Action):
    meta = ActionMeta(
        type="delay",
        name="Delay",
        description=f"Waits `seconds` (at most {MAX_DELAY_SECONDS}).",
        category="Utility",
        params=(ParamSpec("seconds", "float", required=True, description="How long to wait."),),
        outputs=("slept_seconds",),
        timeout_seconds=MAX_DELAY_SECONDS + 30,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        seconds = params.get("seconds")
        if isinstance(seconds, str) and "{{" in seconds:
            return errors
        if seconds is not None and not (
            isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 <= seconds <= MAX_DELAY_SECONDS
        ):
            errors.append(f"seconds: must be a number from 0 to {MAX_DELAY_SECONDS}")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        seconds = min(max(float(ctx.params["seconds"]), 0.0), MAX_DELAY_SECONDS)
        time.sleep(seconds)
        return ActionResult(success=True, outputs={"slept_seconds": seconds})
