"""Sandboxed Jinja2 rendering of step params and conditions.

Only ``steps``, ``parameters`` (alias ``params``), ``deployment`` and ``execution`` are in scope. Rendering
walks dicts and lists string by string; a string that is exactly one ``{{ expression }}`` keeps the type of its
value (``{{ parameters.replicas }}`` → ``3``). Undefined names and sandbox violations raise ``RenderError``;
nothing ever renders as an empty string.

``render`` and ``preview`` send the whole value (all params of a step, all values of a plan) to a render worker
process in one round-trip (``render_pool``), where ``render_local`` / ``preview_local`` run under one work
budget and the process's time, memory and output limits. Results are JSON: a tuple comes back as a list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes

from pipelines import render_pool
from pipelines.jinja_limits import (
    MAX_SIZE,
    LimitedSandboxedEnvironment,
    TemplateLimitError,
    start_budget,
    text_size,
)

# How deep params, template values and deployment parameters may nest (checked at validation). Helm values
# rarely pass 10; 900 levels used to pass validation and then crash rendering with RecursionError.
MAX_DEPTH = 32
MAX_EXPRESSION_DEPTH = 100  # levels of one template's syntax tree
OUT_OF_MEMORY = "TemplateLimitError: template render exceeded the memory limit"
SCOPE_NAMES = frozenset({"steps", "parameters", "params", "deployment", "execution"})
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)

_env = LimitedSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

Path = tuple[str | int, ...]


class RenderError(Exception):
    """A param could not be rendered; ``path`` is where inside the params it happened."""

    def __init__(self, path: Path, message: str, *, out_of_memory: bool = False):
        self.path = path
        self.message = message
        self.out_of_memory = out_of_memory
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
    expr = _single_expression(value)
    if expr is not None:
        result = _compiled_expression(expr)(**context)
        if isinstance(result, StrictUndefined):
            str(result)  # raises the UndefinedError / SecurityError that explains what is missing
        if text_size(result, MAX_SIZE) > MAX_SIZE:  # a template's text is checked as it grows; a value here
            raise TemplateLimitError(f"the expression's value would be over {MAX_SIZE:,} characters")
        return result
    return _compiled_template(value).render(**context)


def _render_tree(value: Any, context: dict[str, Any], path: Path) -> Any:
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            return _render_string(value, context)
        except MemoryError:
            raise RenderError(path, OUT_OF_MEMORY, out_of_memory=True) from None
        except Exception as exc:  # noqa: BLE001 - not only TemplateError: {% include %} raises TypeError and a
            # huge range() OverflowError; whatever a user's template raises must fail its step, not the worker.
            raise RenderError(path, f"{type(exc).__name__}: {exc}") from None
    if isinstance(value, dict):
        return {k: _render_tree(v, context, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_tree(v, context, (*path, i)) for i, v in enumerate(value)]
    return value


def render_local(value: Any, context: dict[str, Any], path: Path = ()) -> Any:
    """``render`` in this process, under one work budget. Only the render worker calls it."""
    start_budget()
    return _render_tree(value, context, path)


def _preview_tree(value: Any, context: dict[str, Any], pending: set[str]) -> Any:
    if isinstance(value, dict):
        return {key: _preview_tree(child, context, pending) for key, child in value.items()}
    if isinstance(value, list):
        return [_preview_tree(child, context, pending) for child in value]
    if not isinstance(value, str) or not is_template(value):
        return value
    refs = find_references(value)
    if refs:
        pending.update(f"steps.{step}.outputs.{output}" if output else f"steps.{step}" for step, output in refs)
        return value
    try:
        return _render_tree(value, context, ())
    except RenderError as exc:
        if exc.out_of_memory:
            raise
        return value  # the engine reports it when the step runs; the preview shows it as written


def preview_local(values: list[Any], context: dict[str, Any]) -> list[tuple[Any, list[str]]]:
    """``preview`` in this process, under one work budget for all ``values``. Only the render worker calls it."""
    start_budget()
    out = []
    for value in values:
        pending: set[str] = set()
        out.append((_preview_tree(value, context, pending), sorted(pending)))
    return out


def render(value: Any, context: dict[str, Any], _path: Path = ()) -> Any:
    """Render every string inside ``value`` (dicts and lists recursively) against ``context``, in a render
    worker process; any failure, a broken time / memory / size limit included, is a ``RenderError``."""
    if not has_templates(value):
        return value
    return _run({"op": "render", "value": value, "context": context, "path": list(_path)}, _path)


def preview(values: list[Any], context: dict[str, Any]) -> list[tuple[Any, list[str]]]:
    """For each of ``values``: the value with the strings that need no step outputs rendered (a string that
    fails keeps its source), and the ``steps.X.outputs.Y`` references of the others, which stay as written.
    One round-trip for all of them; a broken process limit is a ``RenderError`` for the whole batch."""
    if not has_templates(values):
        return [(value, []) for value in values]
    return [(value, pending) for value, pending in _run({"op": "preview", "values": values, "context": context}, ())]


def _run(request: dict[str, Any], path: Path) -> Any:
    try:
        reply = render_pool.pool().run(request)
    except render_pool.RenderLimitError as exc:
        raise RenderError(path, f"TemplateLimitError: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError encoding a too-deep value: the render fails
        raise RenderError(path, f"{type(exc).__name__}: {exc}") from None
    if "error" in reply:
        raise RenderError(tuple(reply["error"]["path"]) or path, reply["error"]["message"])
    return reply["ok"]


def has_templates(value: Any) -> bool:
    return next(iter_strings(value), None) is not None


def too_deep(value: Any, limit: int = MAX_DEPTH) -> Path | None:
    """The path of the first place where ``value`` nests deeper than ``limit`` levels, else None (no recursion:
    this is what protects the recursive code from a hostile 10,000-level document)."""
    stack: list[tuple[Any, Path]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > limit:
            return path
        if isinstance(item, dict):
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))
    return None


def depth_errors(value: Any, loc: Path = ()) -> list[dict[str, Any]]:
    """A validation error (``{"loc", "msg"}``, the 422 detail shape) when ``value`` nests too deep."""
    path = too_deep(value)
    if path is None:
        return []
    return [{"loc": [*loc, *path], "msg": f"nested deeper than {MAX_DEPTH} levels"}]


def iter_strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every template string inside ``value`` with its path, in document order (iterative: any depth)."""
    stack: list[tuple[Any, Path]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if is_template(item):
                yield where, item
        elif isinstance(item, dict):
            stack.extend(reversed([(v, (*where, k)) for k, v in item.items()]))
        elif isinstance(item, list):
            stack.extend(reversed([(v, (*where, i)) for i, v in enumerate(item)]))


@lru_cache(maxsize=8192)
def parse(source: str) -> nodes.Template:
    """Parse a template string (``TemplateSyntaxError`` on bad syntax); cached, DAGs repeat strings a lot."""
    expr = _single_expression(source)
    try:
        tree = _env.parse(source if expr is None else "{{" + expr + "}}")
    except RecursionError:  # Jinja's parser recurses per parenthesis / unary operator: "{{ ((((…1)))) }}"
        tree = None
    if tree is None or _tree_too_deep(tree):
        raise TemplateSyntaxError(f"the expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels", 1)
    return tree


def _tree_too_deep(tree: nodes.Node) -> bool:
    """Every later walk of the tree (references, undeclared names, the compiler) recurses per level, and
    ``1 + 1 + … + 1`` parses without recursion into a tree 1,000 levels deep."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return False


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
