"""What every peer script shares (run with the bench venv's python, not the app's): the command line
``CHAIN FAN_OUT``, the background processes it starts and stops, the timing, and the one JSON line it prints."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))


def sizes() -> tuple[int, int]:
    """The chain length and the fan-out width bench_peers passes."""
    return int(sys.argv[1]), int(sys.argv[2])


@contextlib.contextmanager
def background(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """The peer's workers (or server) for the duration of the measurement; stopped even when it fails."""
    process = subprocess.Popen(
        args, cwd=HERE, env=env or os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(done: Callable[[], object], what: str, timeout: float = 600, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(interval)


def seconds(work: Callable[[], object]) -> float:
    """Wall time of ``work``: from the first task handed to the engine to the last result seen by the caller."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def report(*, n_chain: int, chain_seconds: float, n_fan: int, fan_seconds: float, version: str) -> None:
    """The one JSON line bench_peers reads (the last line of stdout)."""
    result = {"chain_ms_per_hop": chain_seconds / n_chain * 1000, "fan_out_per_s": n_fan / fan_seconds}
    print(json.dumps({**result, "version": version}), flush=True)
