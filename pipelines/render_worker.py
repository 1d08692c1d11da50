"""The render worker process (``python -m pipelines.render_worker <memory MB>``), started by ``render_pool``.

It reads framed JSON requests on stdin and answers each on stdout; it exits at EOF (its parent is gone). Before
the first request it caps its own address space at what it uses after importing Jinja plus ``<memory MB>``,
so a template that allocates too much gets ``MemoryError`` (or the kernel's kill) here instead of swapping
the machine; before each request it sets ``RLIMIT_CPU`` a little above the render's time limit, a backstop
for the caller's wall-clock deadline. No Django here: only Jinja and the sandbox.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
import sys
from typing import Any, BinaryIO

from pipelines import params
from pipelines.jinja_limits import text_size

_HEADER = struct.Struct(">I")


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _write(stream: BinaryIO, body: bytes) -> None:
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _limit_memory(extra_mb: int) -> None:
    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * resource.getpagesize()
    cap = used + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _limit_cpu(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 2  # SIGXCPU, whose default action ends the process
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))


def _jsonable(value: Any) -> Any:
    if isinstance(value, range | set | frozenset):
        return list(value)
    raise TypeError(f"a rendered value of type {type(value).__name__} cannot be stored (JSON only)")


def _encode_result(result: Any, output_bytes: int) -> bytes:
    if text_size(result, output_bytes) > output_bytes:
        raise params.RenderError((), f"TemplateLimitError: the rendered result would be over {output_bytes:,} bytes")
    if params.too_deep(result, params.MAX_DEPTH * 2) is not None:
        raise params.RenderError((), f"the rendered result is nested deeper than {params.MAX_DEPTH * 2} levels")
    try:
        body = json.dumps({"ok": result}, allow_nan=False, default=_jsonable, separators=(",", ":")).encode()
    except ValueError as exc:  # NaN / Infinity, which PostgreSQL's JSON refuses
        raise params.RenderError((), f"the rendered result is not valid JSON: {exc}") from None
    if len(body) > output_bytes:
        raise params.RenderError(
            (), f"TemplateLimitError: the rendered result is {len(body):,} bytes (limit {output_bytes:,})"
        )
    return body


def handle(request: dict[str, Any]) -> tuple[bytes, bool]:
    """One request: ``{"op": "render", "value", "context", "path"}`` or ``{"op": "preview", "values",
    "context"}``; the reply is ``{"ok": result}`` or ``{"error": {"path", "message"}, "retire"?: true}``, and
    whether this worker should exit after it."""
    retire = False
    try:
        if request["op"] == "preview":
            result: Any = params.preview_local(request["values"], request["context"])
        else:
            result = params.render_local(request["value"], request["context"], tuple(request.get("path") or ()))
        return _encode_result(result, int(request["output_bytes"])), False
    except params.RenderError as exc:
        error: dict[str, Any] = {"error": {"path": list(exc.path), "message": exc.message}}
        retire = exc.out_of_memory
    except MemoryError:
        error, retire = {"error": {"path": [], "message": params.OUT_OF_MEMORY}}, True
    except Exception as exc:  # noqa: BLE001 - a bug or a RecursionError fails the render, not the worker
        error = {"error": {"path": [], "message": f"{type(exc).__name__}: {exc}"}}
    if retire:
        error["retire"] = True  # after MemoryError the heap or a cache may be in a bad state: start afresh
    return json.dumps(error, default=str).encode(), retire


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the parent decides
    stdin, stdout = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident goes to stderr, never into the protocol
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU's default action would dump a core file
    params.render_local("{{ 1 }}-{% for i in range(1) %}{{ i }}{% endfor %}", {}, ())  # warm the compiler
    _limit_memory(int(sys.argv[1]))
    _write(stdout, b'{"ready":true}')
    while (header := _read_exactly(stdin, _HEADER.size)) is not None:
        body = _read_exactly(stdin, _HEADER.unpack(header)[0])
        if body is None:
            break
        request = json.loads(body)
        _limit_cpu(float(request["seconds"]))
        reply, retire = handle(request)
        _write(stdout, reply)
        if retire:
            break


if __name__ == "__main__":
    main()
