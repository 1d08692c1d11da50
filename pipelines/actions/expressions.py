"""Bare Jinja expressions evaluated by an action at run time (``transform``, ``wait_until``).

The runner renders ``{{ ... }}`` params before a step runs, in the DAG's scope. An expression that needs a
scope of its own (``data``, ``response``) is written bare (``data.items | length``) so the runner leaves
it alone; it is checked at submit and evaluated through the sandboxed render pool, never in this process.
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateError

from pipelines.params import RenderError, render, undeclared_names

FALSY_STRINGS = ("", "false", "0", "no", "none")


def truthy(value: Any) -> bool:
    """A condition's value as the runner reads a step's ``condition`` ("false", "0", "no" are false)."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSY_STRINGS
    return bool(value)


def expression_errors(name: str, source: Any, scope: frozenset[str]) -> list[str]:
    """Submit-time problems of the bare expression in param ``name`` that may use only ``scope``."""
    if not isinstance(source, str) or not source.strip():
        return [f"{name}: must be a Jinja expression (without {{{{ }}}})"]
    if "{{" in source or "{%" in source:
        return [f"{name}: write the expression bare, without {{{{ }}}} (it is evaluated by the step)"]
    try:
        unknown = undeclared_names("{{ " + source + " }}") - scope
    except TemplateError as exc:
        return [f"{name}: {exc}"]
    if unknown:
        return [f"{name}: unknown name(s) {', '.join(sorted(unknown))}; available: {', '.join(sorted(scope))}"]
    return []


def evaluate(source: str, scope: dict[str, Any], name: str) -> Any:
    """The expression's value (type kept), rendered in a render worker; raises RenderError."""
    return render("{{ " + source + " }}", scope, (name,))


__all__ = ["RenderError", "evaluate", "expression_errors", "truthy"]
