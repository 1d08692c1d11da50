"""A small pool of long-lived render worker processes, so that no Jinja template can hold the calling process.

The sandbox's in-process checks fail most bombs early with a clear message, but they cannot bound everything: one
C-level operation (a huge ``str.format`` width, ``sum`` over lists) holds the GIL, and daphne serves sync views
in threads of one process, so a single such render stalled ``/healthz`` for 18 s. Here every render is a JSON
request over pipes to a worker process (``pipelines.render_worker``) that runs under ``RLIMIT_AS`` and
``RLIMIT_CPU``; the caller waits at most ``RENDER_TIMEOUT_SECONDS`` (in ``poll``, without the GIL) and kills
and replaces a worker that overruns, dies or answers too much. JSON, not pickle, comes back: a worker runs
hostile templates, so nothing it sends may execute code in the caller.

Workers are started lazily per process (a django-q2 worker forked from its cluster gets a pool of its own, see
``os.register_at_fork``), kept warm between renders, and killed at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

_HEADER = struct.Struct(">I")
_ROOT = str(Path(__file__).resolve().parent.parent)
_START_SECONDS = 30.0  # a cold worker imports Jinja; generous for a loaded machine
_ACQUIRE_SECONDS = 30.0


class RenderLimitError(Exception):
    """The render broke a bound of its worker process: time, memory, or the size of its result."""


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_mb: int
    output_bytes: int
    workers: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            seconds=float(settings.RENDER_TIMEOUT_SECONDS),
            memory_mb=int(settings.RENDER_MEMORY_MB),
            output_bytes=int(settings.RENDER_MAX_OUTPUT_BYTES),
            workers=max(1, int(settings.RENDER_WORKERS)),
        )


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class _Gone(Exception):
    """The worker was dead before it got the request (killed while idle): another worker may take it."""


class Worker:
    """One render process and its two pipes; framed messages are a 4-byte length and UTF-8 JSON."""

    def __init__(self, limits: Limits):
        self.limits = limits
        # Not the parent's environment: it holds SECRET_KEY, DATABASE_URL and the kubeconfig key, none of which a
        # process running hostile templates needs (nor any other open file: close_fds).
        env = {"PYTHONPATH": _ROOT, "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.render_worker", str(limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
            cwd=_ROOT,
        )
        self._poll = select.poll()
        self._poll.register(self.proc.stdout.fileno(), select.POLLIN)  # type: ignore[union-attr]
        try:
            self._read_frame(time.monotonic() + _START_SECONDS, 1024)  # "ready": Jinja imported, limits set
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, payload: bytes) -> dict[str, Any]:
        assert self.proc.stdin is not None
        data = memoryview(_HEADER.pack(len(payload)) + payload)
        try:
            while data:  # an unbuffered pipe may take a large payload in parts
                data = data[self.proc.stdin.write(data) or 0 :]
        except OSError:  # BrokenPipeError: it died while idle (it only ever dies mid-render otherwise)
            raise _Gone from None
        return json.loads(self._read_frame(time.monotonic() + self.limits.seconds, self.limits.output_bytes + 4096))

    def _read_frame(self, deadline: float, max_bytes: int) -> bytes:
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        if size > max_bytes:
            raise RenderLimitError(f"the rendered result is over {self.limits.output_bytes:,} bytes")
        return self._read(size, deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        chunks: list[bytes] = []
        while size:
            left = deadline - time.monotonic()
            if left <= 0 or not self._poll.poll(left * 1000):
                raise _Timeout
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise _Died
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        """Kill and reap (no zombie is left behind)."""
        self.proc.kill()
        self.proc.wait()
        self.close_pipes()

    def close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class Pool:
    """Up to ``RENDER_WORKERS`` workers for the threads of one process; a thread waits for a free one."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: list[Worker] = []
        self.workers: set[Worker] = set()  # idle and busy, for the exit and fork hooks
        self.started = 0
        self.cond = threading.Condition()

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request (the whole batch of a step or a plan) and return the worker's reply."""
        limits = Limits.from_settings()
        payload = json.dumps(
            {**request, "seconds": limits.seconds, "output_bytes": limits.output_bytes},
            default=str,
            separators=(",", ":"),
        ).encode()
        for attempt in range(2):
            worker = self._acquire(limits)
            keep = False
            try:
                reply = worker.call(payload)
                keep = not reply.get("retire")
                return reply
            except _Gone:
                if attempt:
                    raise RenderLimitError("the render worker could not be reached") from None
            except _Timeout:
                raise RenderLimitError(f"template render exceeded {limits.seconds:g} s") from None
            except (_Died, OSError):
                raise RenderLimitError(
                    f"template render exceeded the memory ({limits.memory_mb} MB) or CPU limit of its process"
                ) from None
            finally:
                self._release(worker, keep)
        raise AssertionError("unreachable")

    def _acquire(self, limits: Limits) -> Worker:
        deadline = time.monotonic() + _ACQUIRE_SECONDS
        with self.cond:
            while True:
                while self.idle:
                    worker = self.idle.pop()
                    if worker.limits == limits and worker.proc.poll() is None:
                        return worker
                    self.started -= 1  # settings changed (tests) or it died while idle: replace it
                    self.workers.discard(worker)
                    worker.kill()
                if self.started < limits.workers:
                    self.started += 1
                    break
                if not self.cond.wait(deadline - time.monotonic()) and time.monotonic() > deadline:
                    raise RenderLimitError("all render workers are busy; try again")
        try:
            worker = Worker(limits)
            self.workers.add(worker)
            return worker
        except BaseException:
            with self.cond:
                self.started -= 1
                self.cond.notify()
            raise

    def _release(self, worker: Worker, keep: bool) -> None:
        with self.cond:
            if worker not in self.workers:  # shut down while it rendered
                keep = False
            elif keep:
                self.idle.append(worker)
            else:
                self.started -= 1
                self.workers.discard(worker)
            self.cond.notify()
        if not keep:
            worker.kill()

    def shutdown(self) -> None:
        """Kill every worker of this pool (at exit; tests use it to start from a cold pool)."""
        with self.cond:
            workers, self.workers, self.idle, self.started = list(self.workers), set(), [], 0
        for worker in workers:
            worker.kill()


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool() -> Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = Pool()
        return _pool


def _forget_after_fork() -> None:
    """In a forked child (django-q2 workers): the parent's render workers are the parent's; drop our copies of
    their pipes without killing them, and start a pool of our own on first use."""
    global _pool, _pool_lock
    _pool_lock = threading.Lock()  # it may have been held by another thread at fork time
    if _pool is not None:
        for worker in _pool.workers:
            worker.close_pipes()
    _pool = None


def _shutdown_at_exit() -> None:
    if _pool is not None and _pool.pid == os.getpid():
        _pool.shutdown()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_shutdown_at_exit)
