"""Wait on a condition, not for a fixed time: a fixed sleep is too short on a loaded machine (flaky) and too long
on an idle one (slow)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float = 20, interval: float = 0.05) -> T:
    """Call ``condition`` until it returns something truthy, or ``timeout`` seconds passed; its last result."""
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return result
