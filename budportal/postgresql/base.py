"""Django's PostgreSQL backend (``ENGINE = "budportal.postgresql"``), except how its connection pool checks a
connection before lending it to a request.

With ``CONN_HEALTH_CHECKS`` Django has the pool send an empty query first: a round trip on every request, a third
of the statements of the API's detail GET and ~10 % of the whole request's CPU, web process and PostgreSQL
together (tests/bench/README.md, web tier). A connection whose server went away (restarted, stopped, an idle
timeout, ``pg_terminate_backend``) has something to read on its socket: the server's goodbye, or the end of the
stream. A healthy idle connection has nothing. So the check looks at the socket, and pays the round trip only when
there is something there: psycopg's own check then tells a dead connection from a stray notice.

What never reaches the socket it cannot see: a load balancer or NAT that forgets an idle connection without a word.
The TCP keepalives every connection is opened with (settings.database_from_url) keep such a connection remembered,
and turn a peer gone silent into an error on the socket, which the check sees.
"""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def check_connection(conn: psycopg.Connection) -> None:
    """Raise if ``conn`` cannot be lent; no round trip unless the server has said something."""
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()  # not select.select: descriptors above 1023
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


class PoolCheck:
    """``check_connection`` for one pool. When a connection is found dead its server went away, and so did the
    pool's other idle connections: the pool checks and replaces them all at once. Met one by one, each after
    the pool's doubling back-off (0, 1, 2, 4... s), they made the first request after a PostgreSQL restart
    wait its 10 s and fail."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def __call__(self, conn: psycopg.Connection) -> None:
        try:
            check_connection(conn)
        except psycopg.Error:
            self.pool.check()
            raise


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        pool = super().pool
        # Django passes psycopg's check to the pool it builds, with no way to choose another. Should psycopg_pool
        # rename the attribute, the pool keeps psycopg's check: slower, never unsafe.
        if pool is not None and getattr(pool, "_check", None) is ConnectionPool.check_connection:
            pool._check = PoolCheck(pool)
        return pool
