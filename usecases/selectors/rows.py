"""Hot reads written once as SQL: run as prepared statements on PostgreSQL, their rows turned into model instances
the way the ORM turns them (each column through its field's converters), without the ORM rebuilding the query.

Only for reads measured to need it (``tests/bench/README.md``, web tier); everything else uses the ORM.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.sql import Query

M = TypeVar("M", bound=Model)

# Converters are bound to one connection's operations, and each thread has its own connection object: each thread
# keeps the readers of its connection, and they go with the thread (a module-level map would hold every thread's
# connection forever: the readers refer to it).
_local = threading.local()


class _PreparedCursor(psycopg.Cursor):
    """Binds parameters on the server and prepares every statement it runs: PostgreSQL then plans a read once
    per connection, not on every call (half its CPU for the detail GET). Django's own cursors bind on the
    client, where psycopg cannot prepare, and it leaves preparing off for transaction-mode poolers; so does
    ``DATABASE_PREPARED_STATEMENTS=false``."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def fetch_rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of one statement on the default database, through Django's cursor wrapper (so its error
    mapping, query log and execute wrappers still see it)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    raw = connection.connection
    # Django turns psycopg's preparing off (threshold None). On only while this module's cursor runs: while on,
    # psycopg also counts every other statement by its full text (values included, Django binds on the client).
    raw.prepare_threshold = sys.maxsize  # by request only (prepare=True), never by count
    try:
        try:
            return _fetch_prepared(connection, raw, sql, params)
        except NotSupportedError as error:
            if connection.in_atomic_block or getattr(error.__cause__, "sqlstate", None) != _RESULT_TYPE_CHANGED:
                raise
            # A migration changed the type of a column the statement returns (a rolling upgrade: the new release
            # migrated, this process still serves): PostgreSQL refuses the plan it prepared, on this connection
            # until psycopg forgets it. psycopg clears its cache when it sees this command go through.
            raw.execute("DEALLOCATE ALL")
            return _fetch_prepared(connection, raw, sql, params)
    finally:
        raw.prepare_threshold = None


# "cached plan must not change result type"
_RESULT_TYPE_CHANGED = "0A000"


def _fetch_prepared(
    connection: BaseDatabaseWrapper, raw: psycopg.Connection, sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    prepared = _PreparedCursor(raw)
    # django-stubs types the argument as Django's wrapper; Django wraps the database's own cursor here.
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    wrapped = wrap(prepared)  # type: ignore[arg-type]
    with wrapped:
        wrapped.execute(sql, params)
        return wrapped.fetchall()


def reader(model: type[M]) -> Callable[[Sequence[Any]], M]:
    """Turns the values of ``model``'s concrete fields, in field order, into an instance loaded from the
    database, as a queryset would."""
    connection = connections[DEFAULT_DB_ALIAS]
    if getattr(_local, "connection", None) is not connection:
        _local.connection, _local.readers = connection, {}
    per_model: dict[type[Model], Callable[[Sequence[Any]], Any]] = _local.readers
    if model not in per_model:
        per_model[model] = _build_reader(model, connection)
    return per_model[model]


def _build_reader(model: type[M], connection: BaseDatabaseWrapper) -> Callable[[Sequence[Any]], M]:
    fields = model._meta.concrete_fields
    compiler = connection.ops.compiler("SQLCompiler")(Query(model), connection, connection.alias)
    converters = list(compiler.get_converters([f.get_col(model._meta.db_table) for f in fields]).items())
    names = [f.attname for f in fields]
    alias = connection.alias

    def read(values: Sequence[Any]) -> M:
        values = list(values)
        for index, (functions, expression) in converters:
            value = values[index]
            for convert in functions:
                value = convert(value, expression, connection)
            values[index] = value
        return model.from_db(alias, names, values)

    return read
