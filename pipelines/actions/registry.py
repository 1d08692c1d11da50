"""Where action types are looked up: built-ins, actions other apps register, and plugin entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from pipelines.actions.base import Action

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


def all_actions() -> list[Action]:
    _load_plugins()
    return sorted(_registry.values(), key=lambda a: a.meta.type)
