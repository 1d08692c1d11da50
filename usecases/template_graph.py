"""Layout of a template's dependency graph for the portal: one column per wave, reference edges between boxes.

The page draws it as inline SVG on the server (no JavaScript, no layout library). Wave order is drawn as faint
arrows between consecutive columns; ``{{ steps.X.outputs.Y }}`` references as solid arrows from X to the
component that uses X's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from usecases.models import UseCaseTemplate
from usecases.template_refs import referenced_steps

NODE_W, NODE_H = 168, 52
COL_GAP, ROW_GAP, PAD, HEADER = 72, 20, 16, 26


@dataclass(frozen=True)
class Node:
    name: str
    label: str
    type: str
    wave: int
    x: int
    y: int

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2

    @property
    def cy(self) -> int:
        return self.y + NODE_H // 2


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "reference" (values use the source's outputs) or "wave" (the order alone)
    path: str


def _values(component: dict[str, Any]) -> Any:
    chart = component.get("chart") or {}
    return chart.get("values") if component.get("type") == "helm" else component.get("values")


def _curve(a: Node, b: Node) -> str:
    """A cubic curve from the right edge of ``a`` to the left edge of ``b`` (same column: around the side)."""
    if a.wave == b.wave:
        x = a.x + NODE_W
        return f"M{x},{a.cy} C{x + 40},{a.cy} {x + 40},{b.cy} {x},{b.cy}"
    x1, x2 = a.x + NODE_W, b.x
    mid = (x1 + x2) / 2
    return f"M{x1},{a.cy} C{mid},{a.cy} {mid},{b.cy} {x2 - 6},{b.cy}"


def template_graph(template: UseCaseTemplate) -> dict[str, Any]:
    """``{"nodes", "edges", "width", "height", "waves"}`` ready for ``usecases/partials/dependency_graph.html``."""
    waves = template.waves
    nodes: dict[str, Node] = {}
    for w, wave in enumerate(waves):
        for r, name in enumerate(wave):
            component = template.component(name) or {"name": name, "type": "?"}
            nodes[name] = Node(
                name=name,
                label=component.get("display_name") or name,
                type=component.get("type", "?"),
                wave=w,
                x=PAD + w * (NODE_W + COL_GAP),
                y=PAD + HEADER + r * (NODE_H + ROW_GAP),
            )
    edges = _reference_edges(template, nodes)
    linked = {(e.source, e.target) for e in edges}
    for w in range(1, len(waves)):
        for source in waves[w - 1]:
            for target in waves[w]:
                if (source, target) not in linked:
                    edges.append(Edge(source, target, "wave", _curve(nodes[source], nodes[target])))
    tallest = max((len(wave) for wave in waves), default=1)
    return {
        "nodes": list(nodes.values()),
        "edges": edges,
        "waves": [{"index": w + 1, "x": PAD + w * (NODE_W + COL_GAP)} for w in range(len(waves))],
        "width": PAD * 2 + max(len(waves), 1) * (NODE_W + COL_GAP) - COL_GAP + 40,
        "height": PAD * 2 + HEADER + tallest * (NODE_H + ROW_GAP) - ROW_GAP,
        "node_w": NODE_W,
        "node_h": NODE_H,
    }


def _reference_edges(template: UseCaseTemplate, nodes: dict[str, Node]) -> list[Edge]:
    edges = []
    for component in template.components:
        target = nodes.get(component["name"])
        for source_name in sorted(referenced_steps(_values(component) or {})):
            source = nodes.get(source_name)
            if source is not None and target is not None and source is not target:
                edges.append(Edge(source.name, target.name, "reference", _curve(source, target)))
    return edges
