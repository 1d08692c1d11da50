"""The web processes' connection pool lends a connection without a round trip to PostgreSQL, and never lends one
whose server went away (budportal.postgresql)."""

from __future__ import annotations

import select
import time

import psycopg
import pytest
from django.db import connection

from budportal.postgresql.base import DatabaseWrapper, check_connection
from tests.production.services import another_session

# Pass 1 runs on SQLite, which has neither this backend nor a pool; scripts/test.sh's pass 2 runs these on PostgreSQL.
pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's pool: pass 2")


class CountingConnection(psycopg.Connection):
    """A real connection that counts the statements sent through it."""

    statements = 0

    def execute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.statements += 1
        return super().execute(*args, **kwargs)


def _terminate(pid: int) -> None:
    with another_session(autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def _until_the_server_has_hung_up(conn: psycopg.Connection) -> None:
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    assert poller.poll(5000), "the terminated backend never closed its socket"


def test_a_healthy_idle_connection_is_lent_without_a_round_trip() -> None:
    with another_session(autocommit=True, connection_class=CountingConnection) as conn:
        conn.execute("SELECT 1")
        before = conn.statements
        for _ in range(3):
            check_connection(conn)
        assert conn.statements == before
        assert conn.execute("SELECT 2").fetchone() == (2,)


@pytest.mark.django_db
def test_a_connection_whose_server_went_away_is_refused() -> None:
    with another_session(autocommit=True) as conn:
        _terminate(conn.info.backend_pid)
        _until_the_server_has_hung_up(conn)
        with pytest.raises(psycopg.OperationalError):
            check_connection(conn)


def _pooled(size: int, name: str) -> DatabaseWrapper:
    settings = {**connection.settings_dict, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True}
    pool = {"min_size": size, "max_size": size, "timeout": 10, "connection_class": CountingConnection}
    settings["OPTIONS"] = {**settings["OPTIONS"], "pool": pool, "application_name": name}
    return DatabaseWrapper(settings, alias=name)


@pytest.mark.django_db(transaction=True)
def test_after_a_postgresql_restart_the_next_request_gets_a_new_connection_at_once() -> None:
    """Every idle connection of the pool dies at once; the request that meets the first one has the pool replace
    them all, instead of meeting them one by one, each after a longer back-off, until its 10 s run out (7.9 s
    here with four connections, before the fix)."""
    pooled = _pooled(4, "pool-restart-test")
    try:
        pooled.pool.open(wait=True)  # four idle connections, as a web process has between requests
        assert pooled.pool.get_stats()["pool_available"] == 4
        with another_session(autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                ["pool-restart-test"],
            )
        time.sleep(0.3)

        started = time.monotonic()
        with pooled.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        assert time.monotonic() - started < 0.9  # less than the pool's first back-off (1 s)
        pooled.close()
    finally:
        pooled.close_pool()


@pytest.mark.django_db(transaction=True)
def test_the_pool_lends_a_healthy_connection_without_a_round_trip_and_replaces_a_dropped_one() -> None:
    pooled = _pooled(1, "pool-check-test")
    try:
        with pooled.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (first_pid,) = cursor.fetchone()
        pooled.close()  # back to the pool, as at the end of a request
        with pooled.cursor() as cursor:  # the next request: the same connection, checked without a statement
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone() == (first_pid,)
        assert pooled.connection.statements == 0
        pooled.close()
        _terminate(first_pid)
        time.sleep(0.2)

        with pooled.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (second_pid,) = cursor.fetchone()
        assert second_pid != first_pid
        pooled.close()
    finally:
        pooled.close_pool()
