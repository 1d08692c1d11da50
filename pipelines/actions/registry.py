"""Where action types are looked up: built-ins, actions other apps register, and plugin entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from pipelines.actions.base import Action, ActionContext, ActionResult

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "budportal.actions"
_registry: dict[str, Action] = {}
_plugins_loaded = False


def register(action_cls: type[Action]) -> type[Action]:
    """Register an action class (usable as a decorator). A later registration of the same type wins."""
    _registry[action_cls.meta.type] = action_cls()
    return action_cls


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(ep.load())
        except Exception:  # a broken plugin must not take the engine down
            logger.exception("could not load action plugin %s", ep.name)


def get_action(action_type: str) -> Action | None:
    _load_plugins()
    return _registry.get(action_type)


def run_action(action_type: str, ctx: ActionContext) -> ActionResult:
    """Run one step's action: an unknown type or an action that raises fails the step, never the worker."""
    action = get_action(action_type)
    if action is None:
        return ActionResult(success=False, error=f"unknown action {action_type!r}")
    try:
        return action.execute(ctx)
    except Exception as exc:
        logger.exception("action %s of step %s raised", action_type, ctx.step_id)
        return ActionResult(success=False, error=f"{type(exc).__name__}: {exc}")


def all_actions() -> list[Action]:
    _load_plugins()
    return sorted(_registry.values(), key=lambda a: a.meta.type)


def step_timeout_seconds(dag_step: dict) -> int:
    """A DAG step's own ``timeout_seconds``, else its action's default (300 s for an unknown action)."""
    action = get_action(str(dag_step.get("action") or ""))
    return int(dag_step.get("timeout_seconds") or (action.meta.timeout_seconds if action else 300))
