"""Sandboxed Jinja2 rendering of step params and conditions.

Only ``steps``, ``parameters`` (alias ``params``), ``deployment`` and ``execution`` are in scope. Rendering
walks dicts and lists string by string; a string that is exactly one ``{{ expression }}`` keeps the type of its
value (``{{ parameters.replicas }}`` → ``3``). Undefined names and sandbox violations raise ``RenderError``;
nothing ever renders as an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes

from pipelines.sandbox import LimitedSandboxedEnvironment, start_budget

SCOPE_NAMES = frozenset({"steps", "parameters", "params", "deployment", "execution"})
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)

_env = LimitedSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

Path = tuple[str | int, ...]


class RenderError(Exception):
    """A param could not be rendered; ``path`` is where inside the params it happened."""

    def __init__(self, path: Path, message: str):
        self.path = path
        self.message = message
        where = ".".join(map(str, path))
        super().__init__(f"{where}: {message}" if where else message)


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def _single_expression(value: str) -> str | None:
    match = _SINGLE_EXPRESSION.match(value)
    if match is None or "{{" in match.group("expr") or "}}" in match.group("expr"):
        return None
    return match.group("expr")


@lru_cache(maxsize=4096)
def _compiled_template(source: str):
    return _env.from_string(source)


@lru_cache(maxsize=4096)
def _compiled_expression(source: str):
    return _env.compile_expression(source, undefined_to_none=False)


def _render_string(value: str, context: dict[str, Any]) -> Any:
    start_budget()
    expr = _single_expression(value)
    if expr is not None:
        result = _compiled_expression(expr)(**context)
        if isinstance(result, StrictUndefined):
            str(result)  # raises the UndefinedError / SecurityError that explains what is missing
        return result
    return _compiled_template(value).render(**context)


def render(value: Any, context: dict[str, Any], _path: Path = ()) -> Any:
    """Render every string inside ``value`` (dicts and lists recursively) against ``context``."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            return _render_string(value, context)
        except Exception as exc:  # noqa: BLE001 - not only TemplateError: {% include %} raises TypeError and a
            # huge range() OverflowError; whatever a user's template raises must fail its step, not the worker.
            raise RenderError(_path, f"{type(exc).__name__}: {exc}") from None
    if isinstance(value, dict):
        return {k: render(v, context, (*_path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, (*_path, i)) for i, v in enumerate(value)]
    return value


def iter_strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every template string inside ``value`` with its path."""
    if isinstance(value, str):
        if is_template(value):
            yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_strings(v, (*path, i))


@lru_cache(maxsize=8192)
def parse(source: str) -> nodes.Template:
    """Parse a template string (``TemplateSyntaxError`` on bad syntax); cached, DAGs repeat strings a lot."""
    expr = _single_expression(source)
    return _env.parse(source if expr is None else "{{" + expr + "}}")


def undeclared_names(source: str) -> set[str]:
    return set(meta.find_undeclared_variables(parse(source)))


def _step_ref(node: nodes.Getattr | nodes.Getitem) -> tuple[str, str] | None:
    """``steps.X.outputs.Y`` (attribute or item syntax) → ``(X, Y)``."""
    chain: list[str] = []
    current: nodes.Node = node
    while isinstance(current, nodes.Getattr | nodes.Getitem):
        if isinstance(current, nodes.Getattr):
            chain.append(current.attr)
        elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
            chain.append(current.arg.value)
        else:
            chain.clear()
        current = current.node
    if not (isinstance(current, nodes.Name) and current.name == "steps"):
        return None
    chain.reverse()
    if len(chain) >= 3 and chain[1] == "outputs":
        return chain[0], chain[2]
    if len(chain) >= 1:
        return chain[0], ""
    return None


def references_in(source: str) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    seen_inner: set[int] = set()
    for node in parse(source).find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in seen_inner:
            continue
        ref = _step_ref(node)
        if ref is not None:
            refs.add(ref)
            inner = node.node
            while isinstance(inner, nodes.Getattr | nodes.Getitem):
                seen_inner.add(id(inner))
                inner = inner.node
    return refs


def find_references(value: Any) -> set[tuple[str, str]]:
    """``{(X, Y)}`` for every ``steps.X.outputs.Y`` inside ``value`` (``Y`` is "" for ``steps.X`` alone)."""
    refs: set[tuple[str, str]] = set()
    for _, source in iter_strings(value):
        try:
            refs |= references_in(source)
        except TemplateError:
            continue
    return refs
