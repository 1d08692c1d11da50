"""``delay``: sleep a bounded number of seconds (demos, tests of parallelism and timeouts).

The ceiling is ``PIPELINE_MAX_DELAY_SECONDS``: a sleeping step holds a worker, so a long one is a cheap way
to take the workers from other users.
"""

import time

from django.conf import settings

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.registry import register


def max_delay_seconds() -> float:
    return float(settings.PIPELINE_MAX_DELAY_SECONDS)


@register
class DelayAction(Action):
    meta = ActionMeta(
        type="delay",
        name="Delay",
        description=f"Waits `seconds` (at most {settings.PIPELINE_MAX_DELAY_SECONDS}, PIPELINE_MAX_DELAY_SECONDS).",
        category="Utility",
        params=(ParamSpec("seconds", "float", required=True, description="How long to wait."),),
        outputs=("slept_seconds",),
        timeout_seconds=settings.PIPELINE_MAX_DELAY_SECONDS + 30,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        seconds = params.get("seconds")
        if isinstance(seconds, str) and "{{" in seconds:
            return errors  # rendered at run time, and clamped to the ceiling there
        ceiling = max_delay_seconds()
        if seconds is not None and not (
            isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 <= seconds <= ceiling
        ):
            errors.append(f"seconds: must be a number from 0 to {ceiling:g} (PIPELINE_MAX_DELAY_SECONDS)")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        seconds = min(max(float(ctx.params["seconds"]), 0.0), max_delay_seconds())
        time.sleep(seconds)
        return ActionResult(success=True, outputs={"slept_seconds": seconds})
