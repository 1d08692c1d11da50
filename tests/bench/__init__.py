"""Benchmarks (not collected by pytest). ``python -m tests.bench [name-filter]`` runs every ``bench_*.py``.

A benchmark module defines ``run() -> list[Table]``; the runner prints each table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Benchmarks measure the production configuration: DEBUG off (no per-query logging), plain HTTP on 127.0.0.1.
PRODUCTION_LIKE_ENV = {"DEBUG": "false", "SECRET_KEY": "bench-" + "k" * 50, "SECURE_SSL_REDIRECT": "false"}


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    note: str = ""

    def render(self) -> str:
        cells = [[str(c) for c in self.columns]] + [[_fmt(v) for v in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        line = lambda row: "| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |"  # noqa: E731
        out = [f"### {self.title}", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(row) for row in cells[1:]]
        if self.note:
            out.append(self.note)
        return "\n".join(out)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    return str(value)
