"""Jinja references inside template values: ``{{ steps.llm.outputs.endpoint_url }}``, ``{{ parameters.x }}``.

Strings are parsed (never rendered) by the DAG renderer's own parser (``pipelines.params``), so a syntax error
is caught when the template is saved rather than halfway through a deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.defaults import DEFAULT_NAMESPACE

from pipelines.params import iter_strings, parse


@dataclass(frozen=True)
class Reference:
    """One attribute chain rooted at a free name, e.g. ``("steps", "llm", "outputs", "endpoint_url")``."""

    chain: tuple[str, ...]
    loc: tuple[str | int, ...]  # where the string sits inside the walked value

    @property
    def root(self) -> str:
        return self.chain[0]

    @property
    def text(self) -> str:
        return ".".join(self.chain)


@dataclass(frozen=True)
class SyntaxProblem:
    loc: tuple[str | int, ...]
    msg: str


def _chain(node: nodes.Node) -> list[str] | None:
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        base = _chain(node.node)
        return None if base is None else [*base, node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        base = _chain(node.node)
        return None if base is None else [*base, node.arg.value]
    return None


def _chains(node: nodes.Node) -> Iterator[list[str]]:
    """Maximal attribute chains: ``steps.llm.outputs.endpoint_url`` once, not also ``steps.llm``."""
    chain = _chain(node)
    if chain is not None:
        yield chain
        return
    for child in node.iter_child_nodes():
        yield from _chains(child)


def scan(value: Any) -> tuple[list[Reference], list[SyntaxProblem]]:
    """Every reference to a free name in the Jinja strings of ``value`` (dicts and lists walked), and every
    string that does not parse. Names bound inside the string (``{% for x in ... %}``) are not reported."""
    references: list[Reference] = []
    problems: list[SyntaxProblem] = []
    for loc, text in iter_strings(value):
        try:
            ast = parse(text)
        except TemplateSyntaxError as exc:
            problems.append(SyntaxProblem(loc, f"Jinja syntax error: {exc.message} (line {exc.lineno})"))
            continue
        free = meta.find_undeclared_variables(ast)
        references.extend(Reference(tuple(c), loc) for c in _chains(ast) if c[0] in free)
    return references, problems


def referenced_steps(value: Any) -> set[str]:
    """Names X of every ``steps.X...`` used in ``value``: the implied dependencies of a step."""
    references, _ = scan(value)
    return {ref.chain[1] for ref in references if ref.root == "steps" and len(ref.chain) > 1}


def global_names() -> set[str]:
    """Names the sandbox provides on its own (``range``, ``dict``, ...); not references to check."""
    return set(DEFAULT_NAMESPACE)
