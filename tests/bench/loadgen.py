"""A small asyncio HTTP/1.1 load generator (uvloop when installed) for the web benchmarks.

Threads with ``http.client`` spend more Python CPU per request than the portal does, on the same two cores; one
event loop with keep-alive connections and a minimal response parser costs a fraction of that. Open loop:
requests are due at a fixed rate whatever the answers do, and latency counts from the due time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

try:
    import uvloop
except ImportError:  # pragma: no cover - plain asyncio is only slower
    uvloop = None


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    due_s: list[float] = field(default_factory=list)  # when each latency's request was due, from the start
    errors: list[int] = field(default_factory=list)
    streams_opened: int = 0
    seconds: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _stream(host: str, port: int, path: str, cookie: str, opened: asyncio.Queue, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n".encode())
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " in head.split(b"\r\n", 1)[0]:
            await reader.readuntil(b"connected")  # the stream's first comment: it is registered and open
            await opened.put(True)
        else:
            await opened.put(False)
            return
        while not stop.is_set():
            read = asyncio.ensure_future(reader.read(65536))
            done, _ = await asyncio.wait({read}, timeout=0.5)
            if not done:
                read.cancel()
                continue
            if not read.result():
                return
    finally:
        writer.close()


async def _open_loop(
    host: str, port: int, path: str, headers: str, rate: float, seconds: float, connections: int, result: Result
) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(connections):
        idle.append(await asyncio.open_connection(host, port))
    pending: set[asyncio.Task[None]] = set()

    async def attempt(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> int:
        try:
            conn[1].write(request)
            status = await _read_response(conn[0])
            idle.append(conn)
            return status
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn[1].close()
            return 0

    async def one(due: float) -> None:
        reused = bool(idle)
        status = await attempt(idle.pop() if reused else await asyncio.open_connection(host, port))
        if status == 0 and reused:
            # The server closes a keep-alive connection idle longer than its timeout (uvicorn: 5 s); like any
            # HTTP client, send the request again on a new connection. The latency still counts from ``due``.
            status = await attempt(await asyncio.open_connection(host, port))
        result.latencies_ms.append((time.perf_counter() - due) * 1000)
        result.due_s.append(due - began)
        if status != 200:
            result.errors.append(status)

    began = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        task = asyncio.ensure_future(one(due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    result.seconds = time.perf_counter() - began
    for _, writer in idle:
        writer.close()


async def _run(
    url: tuple[str, int], api: tuple[str, str], sse: tuple[str, str], rate: float, seconds: float, streams: int
) -> Result:
    host, port = url
    result, stop, opened = Result(), asyncio.Event(), asyncio.Queue()
    readers = [asyncio.ensure_future(_stream(host, port, sse[0], sse[1], opened, stop)) for _ in range(streams)]
    deadline = time.monotonic() + 60  # one deadline for all: streams that do not open are reported, not awaited
    for _ in range(streams):
        try:
            result.streams_opened += await asyncio.wait_for(opened.get(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
    await _open_loop(host, port, api[0], api[1], rate, seconds, 32, result)
    stop.set()
    await asyncio.gather(*readers, return_exceptions=True)
    return result


def open_loop(
    url: tuple[str, int], api: tuple[str, str], sse: tuple[str, str], rate: float, seconds: float, streams: int
) -> Result:
    """``api``: (path, extra header lines each ending in CRLF); ``sse``: (stream path, Cookie value)."""
    coroutine = _run(url, api, sse, rate, seconds, streams)
    if uvloop is not None:
        return uvloop.run(coroutine)
    return asyncio.run(coroutine)
