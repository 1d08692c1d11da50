"""Health of the portal's dependencies, for ``/healthz`` (people, monitors) and ``/readyz`` (the chart's
readiness probe): the database answers, and the task broker (Redis, or the database for the ORM broker)
answers. A check never hangs a probe: the Redis client here has one-second timeouts."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)
OK = "ok"
TIMEOUT_SECONDS = 1.0

_redis: tuple[int, object] | None = None


def check_database() -> str:
    try:
        pool = getattr(connection, "pool", None)
        if pool is not None:
            # A pooled web process: a request waits up to 10 s for a connection, a probe TIMEOUT_SECONDS (with
            # the database down the pool has none to lend, and the probe must say so, not hang).
            pool.open()
            with pool.connection(timeout=TIMEOUT_SECONDS) as pooled:
                pooled.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return OK
    except Exception as exc:  # noqa: BLE001 - any failure is the outage being reported
        # A broken connection must not be handed to the next request (CONN_MAX_AGE > 0 keeps it).
        connection.close()
        logger.warning("health: database check failed: %s", exc)
        return f"unavailable ({type(exc).__name__})"


def _redis_client():
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        import redis

        client = redis.Redis.from_url(
            settings.Q_CLUSTER["redis"], socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        )
        _redis = (os.getpid(), client)
    return _redis[1]


def check_broker(database: str) -> str:
    if not settings.Q_CLUSTER.get("redis"):
        return database  # the ORM broker is the database
    try:
        _redis_client().ping()
        return OK
    except Exception as exc:  # noqa: BLE001 - any failure is the outage being reported
        logger.warning("health: broker check failed: %s", exc)
        return f"unavailable ({type(exc).__name__})"


def report() -> tuple[bool, dict]:
    """``(healthy, body)``; the body names each check and says nothing about data or configuration."""
    database = check_database()
    checks = {"database": database, "broker": check_broker(database)}
    healthy = all(value == OK for value in checks.values())
    return healthy, {"status": OK if healthy else "unavailable", "checks": checks}
