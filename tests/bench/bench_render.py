"""The cost of rendering in a render worker process (``pipelines.render_pool``) and how fast bombs fail.

In-process, against the embedded settings: a trivial render and a typical step's params round-trip to a warm
worker (p50 / p95 over many calls) next to the same work in-process (``render_local``, no limits), a plan-sized
batch, a cold worker start, a replacement after a timeout, and each bomb of issue 10 part 3 with the growth of
the caller's RSS. Prints numbers, asserts nothing.

Run: ``python -m tests.bench render`` (``BENCH_RENDER_CALLS=500``).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from tests.bench import Table

CALLS = int(os.environ.get("BENCH_RENDER_CALLS", "500"))
BOMBS = [
    "{{ '{:0>999999999}'.format(1) }}",
    "{{ '%(k)999999999d' % {'k': 1} }}",
    "{{ ([[0]*100000]*250)|sum(start=[]) }}",
    "{{ ([[0]*100000]*1000)|tojson }}",
    "{{ ['x'*999999]*40 }}",
    "{% for i in range(10000) %}{{ range(10000)|sort|first }}{% endfor %}",  # a minute of CPU under the work budget
]


def _context() -> dict:
    steps = {f"s{i}": {"outputs": {"endpoint_url": f"http://s{i}:8000", "replicas": i}} for i in range(20)}
    params = {"replicas": 3, "chunk_size": 512}
    return {"steps": steps, "parameters": params, "params": params, "deployment": {"name": "d", "namespace": "uc-1"}}


STEP_PARAMS = {
    "release_name": "d-agent",
    "namespace": "{{ deployment.namespace }}",
    "values": {
        "replicaCount": "{{ parameters.replicas }}",
        "llm": "{{ steps.s1.outputs.endpoint_url }}/v1",
        "env": {f"K{i}": f"{{{{ steps.s{i}.outputs.endpoint_url }}}}" for i in range(8)},
    },
}


def _times(fn: Callable[[], object], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _row(name: str, samples: list[float]) -> list:
    samples = sorted(samples)
    return [name, statistics.median(samples), samples[int(len(samples) * 0.95) - 1], samples[-1]]


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def round_trip_table() -> Table:
    from pipelines import render_pool
    from pipelines.params import preview, render, render_local

    context = _context()
    plan = [{"values": STEP_PARAMS["values"], "n": "{{ parameters.chunk_size }}"} for _ in range(3)]
    render("{{ 1 }}", {})
    table = Table(
        "Render round-trip (ms)",
        ["render", "p50", "p95", "max"],
        note=f"{CALLS} calls each; workers warm; in-process = the same sandbox without a worker or limits",
    )
    table.rows.append(_row("trivial `{{ 1 }}`, in-process", _times(lambda: render_local({"a": "{{ 1 }}"}, {}), CALLS)))
    table.rows.append(_row("trivial `{{ 1 }}`, worker", _times(lambda: render({"a": "{{ 1 }}"}, {}), CALLS)))
    table.rows.append(
        _row(
            "step params (11 strings, 20 steps in scope), in-process",
            _times(lambda: render_local(STEP_PARAMS, context), CALLS),
        )
    )
    table.rows.append(_row("step params, worker", _times(lambda: render(STEP_PARAMS, context), CALLS)))
    table.rows.append(
        _row("plan of 3 components, worker (one round-trip)", _times(lambda: preview(plan, context), CALLS))
    )

    def cold() -> None:
        render_pool.pool().shutdown()
        render("{{ 1 }}", {})

    table.rows.append(_row("cold worker start + render", _times(cold, 5)))
    return table


def bomb_table() -> Table:
    from django.conf import settings

    from pipelines.params import RenderError, render

    table = Table(
        "Bombs: time to fail and caller RSS growth",
        ["template", "seconds", "RSS +MB", "error"],
        note=f"RENDER_TIMEOUT_SECONDS={settings.RENDER_TIMEOUT_SECONDS}, RENDER_MEMORY_MB={settings.RENDER_MEMORY_MB}",
    )
    for source in BOMBS:
        rss, started = _rss_mb(), time.perf_counter()
        try:
            render({"v": source}, {})
            error = "(rendered)"
        except RenderError as exc:
            error = exc.message[:70]
        table.rows.append([f"`{source[:48]}`", time.perf_counter() - started, round(_rss_mb() - rss, 1), error])
    started = time.perf_counter()
    render("{{ 1 }}", {})
    table.rows.append(["next render after the timeout (worker replaced)", time.perf_counter() - started, "", ""])
    return table


def limit_table() -> Table:
    """The bombs of tests/pipelines/test_jinja_limits.py and the time limit's cost, per render and per plan."""
    from django.conf import settings

    from pipelines.params import RenderError, preview, render
    from tests.pipelines.test_jinja_limits import ISSUE_BOMBS, SLOW

    table = Table(
        "Time to fail (s): each bomb of issue 10, and a slow template against the time limit",
        ["render", "seconds", "RSS +MB", "error"],
        note=f"RENDER_TIMEOUT_SECONDS={settings.RENDER_TIMEOUT_SECONDS} (the slow rows: 0.5)",
    )

    def timed(name: str, call: Callable[[], object]) -> None:
        rss, started = _rss_mb(), time.perf_counter()
        try:
            call()
            error = "(rendered)"
        except RenderError as exc:
            error = exc.message[:60]
        table.rows.append([name, time.perf_counter() - started, round(_rss_mb() - rss, 1), error])

    render("{{ 1 }}", {})
    for source, _ in ISSUE_BOMBS:
        timed(f"`{source[:48]!r}`", lambda source=source: render({"v": source}, {}))
    saved = settings.RENDER_TIMEOUT_SECONDS
    settings.RENDER_TIMEOUT_SECONDS = 0.5
    try:
        timed("slow template, one value", lambda: render({"v": SLOW}, {}))
        # A plan is rendered under one time limit: ten slow values fail in about one limit, not ten.
        timed("plan with 10 slow values (one round-trip)", lambda: preview([{f"s{i}": SLOW} for i in range(10)], {}))
    finally:
        settings.RENDER_TIMEOUT_SECONDS = saved
    return table


def run() -> list[Table]:
    return [round_trip_table(), bomb_table(), limit_table()]
