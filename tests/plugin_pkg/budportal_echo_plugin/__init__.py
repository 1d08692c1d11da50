"""The ``plugin_echo`` action: echoes ``text`` (upper-cased when ``shout``). It imports only the public
action contract (``pipelines.actions.base``) and does not register itself: the portal finds it through the
``budportal.actions`` entry point."""

from __future__ import annotations

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, OutputSpec, ParamSpec


class EchoAction(Action):
    meta = ActionMeta(
        type="plugin_echo",
        name="Echo (plugin)",
        description="Echoes `text`.",
        category="Plugins",
        version="0.1.0",
        icon="megaphone",
        params=(ParamSpec("text", "string", required=True), ParamSpec("shout", "boolean", default=False)),
        outputs=(OutputSpec("echo", "string"),),
    )

    def execute(self, ctx: ActionContext) -> ActionResult:
        text = str(ctx.params["text"])
        return ActionResult(success=True, outputs={"echo": text.upper() if ctx.params.get("shout") else text})
