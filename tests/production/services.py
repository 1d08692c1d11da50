"""Per-test isolation on the shared PostgreSQL and Redis of the production pass.

Processes a test starts itself (``tests.livestack.LiveStack``, a bare ``qcluster``) cannot use pytest-django's
test database transaction, and a queue left in Redis by one stack must never reach the next one's workers.
``isolated_services()`` gives such processes an empty database of their own and an emptied Redis database:

    with isolated_services() as env, LiveStack(env=env) as stack:
        ...
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg
import redis

# Processes started by tests use the Redis database after the pytest process's own (0 and 1 in a serial run;
# under pytest-xdist worker gwN has 2N+2 and 2N+3, see ``redis_url_for_this_worker``).
REDIS_DATABASES = 16  # redis-server's default


def _with_path(url: str, path: str) -> str:
    return urlunparse(urlparse(url)._replace(path=path))


def _redis_db(url: str) -> int:
    path = urlparse(url).path.strip("/")
    return int(path) if path else 0


def redis_url_for_this_worker(url: str, worker: str) -> str:
    """``url`` pointing at the Redis database of pytest-xdist worker ``worker`` ("gw0", "gw1"…)."""
    db = 2 * int(worker.removeprefix("gw")) + 2
    if db + 1 >= REDIS_DATABASES:
        raise RuntimeError(f"{worker}: Redis has {REDIS_DATABASES} databases, too few for this many xdist workers")
    return _with_path(url, f"/{db}")


@contextmanager
def isolated_services() -> Iterator[dict[str, str]]:
    """``DATABASE_URL`` of a new, empty PostgreSQL database and ``REDIS_URL`` of an emptied Redis database."""
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    name = f"isolated_{secrets.token_hex(4)}"
    isolated_redis = _with_path(redis_url, f"/{_redis_db(redis_url) + 1}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(isolated_redis).flushdb()
    try:
        yield {"DATABASE_URL": _with_path(database_url, f"/{name}"), "REDIS_URL": isolated_redis}
    finally:
        redis.Redis.from_url(isolated_redis).flushdb()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def another_session(connection_class: type[psycopg.Connection] = psycopg.Connection, **kwargs) -> psycopg.Connection:
    """A new connection to the database the test's Django connection uses, as another process would open one
    (an administrator terminating backends, a migration altering a table)."""
    from django.db import connection

    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    return connection_class.connect(**{k: params[k] for k in keys if params.get(k)}, **kwargs)
