"""Transactions that PostgreSQL may pick as a deadlock victim are run again.

The engine takes its row locks in one order (see ``pipelines.models``), so a deadlock between its own
transactions should not happen; but other apps' transactions, a lock order broken by a future change, or a
serialization failure must cost a retry, never an HTTP 500 or a step stuck half-done. PostgreSQL aborts the
victim's whole transaction (or savepoint), so only the outermost ``atomic`` — or a savepoint of ours — can be
run again: inside someone else's transaction the error propagates to the caller that owns it.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

ATTEMPTS = 5
# SQLSTATE deadlock_detected and serialization_failure: the database rolled us back and says "try again".
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__
    return (
        getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES or getattr(cause, "pgcode", None) in RETRYABLE_SQLSTATES
    )


def retry_on_deadlock(*, savepoint: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function in ``transaction.atomic()`` and run it again (up to ``ATTEMPTS`` times, with a short
    random pause) when the database aborts it as a deadlock victim.

    Called inside an outer transaction, the function runs in that transaction without a retry (the caller owns
    it), unless ``savepoint`` is set: then it runs in a savepoint, which PostgreSQL rolls back together with the
    locks taken in it, and the savepoint is retried. Meant for rare, important writes (cancel), not the hot path.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if connection.in_atomic_block and not savepoint:
                return fn(*args, **kwargs)
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    with transaction.atomic():
                        return fn(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == ATTEMPTS or not is_retryable(exc):
                        raise
                    logger.warning("%s: deadlock victim (attempt %s), retrying", fn.__qualname__, attempt)
                    time.sleep(random.uniform(0.005, 0.05) * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate
