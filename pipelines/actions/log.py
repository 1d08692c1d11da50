"""``log``: write a message to the worker log and pass it on as an output. A no-op step for demos and tests."""

import logging

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.registry import register

logger = logging.getLogger("pipelines.steps")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@register
class LogAction(Action):
    meta = ActionMeta(
        type="log",
        name="Log a message",
        description="Writes a message to the worker log; outputs the message.",
        category="Utility",
        params=(
            ParamSpec("message", "string", required=True, description="Text to log (Jinja allowed)."),
            ParamSpec("level", "string", default="info", description="debug, info, warning or error."),
        ),
        outputs=("message",),
        timeout_seconds=30,
        batchable=True,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        if params.get("level", "info") not in LEVELS:
            errors.append(f"level: must be one of {', '.join(LEVELS)}")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        message = str(ctx.params.get("message", ""))
        logger.log(LEVELS[ctx.params.get("level", "info")], "[%s/%s] %s", ctx.execution_id, ctx.step_id, message)
        return ActionResult(success=True, outputs={"message": message})
