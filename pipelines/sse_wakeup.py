"""Embedded wake-ups: the web process notices new events in the SQLite file within ``SSE_WAKE_SECONDS``.

Without Redis the workers (other processes) cannot reach the web process's in-memory channel layer, and the
streams used to re-read the event log only every ``SSE_POLL_SECONDS``. SQLite already tells every connection
whether another one committed since it last asked: ``PRAGMA data_version`` (a read of the WAL index in shared
memory, a few microseconds, no disk I/O). One watcher per web process asks every ``SSE_WAKE_SECONDS`` while a
stream is open; when the number changed it reads the ids of the new events and sends the usual wake-up to the
groups of the streams this process holds. Every web process runs its own watcher, so the wake-up reaches all of
them with no port, socket or file to share. With Redis (or PostgreSQL) the channel layer does this instead.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any
from urllib.parse import quote

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connections

from pipelines.models import Event

logger = logging.getLogger(__name__)
MAX_ROWS = 1000  # more new events than this at once: wake every stream of the process instead


def enabled() -> bool:
    database = settings.DATABASES["default"]
    layer = get_channel_layer()
    return (
        database["ENGINE"] == "django.db.backends.sqlite3"
        and not _in_memory()
        and isinstance(layer, InMemoryChannelLayer)
        and settings.SSE_WAKE_SECONDS > 0
    )


def _in_memory() -> bool:
    """A test database in memory: no other process writes it, and a second connection would not see it."""
    connection: Any = connections["default"]
    return bool(connection.is_in_memory_db())


class DataVersionWatcher:
    def __init__(self, path: str, interval: float) -> None:
        self.path, self.interval = path, interval
        self.streams = 0
        self.task: asyncio.Task[None] | None = None

    def stream_opened(self) -> None:
        self.streams += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def stream_closed(self) -> None:
        self.streams = max(0, self.streams - 1)

    async def run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            # mode=rw: never create an empty database file where the portal's is missing.
            uri = f"file:{quote(self.path)}?mode=rw"
            connection = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None, check_same_thread=False)
            version, last_id = await asyncio.to_thread(self._start, connection)
            while self.streams:
                await asyncio.sleep(self.interval)
                current = connection.execute("PRAGMA data_version").fetchone()[0]
                if current == version:
                    continue
                version = current
                rows = await asyncio.to_thread(self._new_events, connection, last_id)
                if rows:
                    last_id = rows[-1][0]
                    await self._wake(rows)
        except Exception:  # the streams still poll the log every SSE_POLL_SECONDS
            logger.warning("SQLite wake-up watcher stopped", exc_info=True)
        finally:
            if connection is not None:
                connection.close()

    def _start(self, connection: sqlite3.Connection) -> tuple[int, int]:
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        last_id = connection.execute(f"SELECT coalesce(max(id), 0) FROM {Event._meta.db_table}").fetchone()[0]
        return version, last_id

    def _new_events(self, connection: sqlite3.Connection, after: int) -> list[tuple[int, Any, Any]]:
        table = Event._meta.db_table
        sql = f"SELECT id, execution_id, deployment_id FROM {table} WHERE id > ? ORDER BY id LIMIT {MAX_ROWS + 1}"
        return connection.execute(sql, (after,)).fetchall()

    async def _wake(self, rows: list[tuple[int, Any, Any]]) -> None:
        layer = get_channel_layer()
        assert isinstance(layer, InMemoryChannelLayer)
        if len(rows) > MAX_ROWS:
            groups = set(layer.groups)
        else:
            groups = {f"execution-{_uuid(e)}" for _, e, _ in rows if e} | {
                f"deployment-{_uuid(d)}" for _, _, d in rows if d
            }
        for group in groups & set(layer.groups):
            await layer.group_send(group, {"type": "event.wakeup", "id": rows[-1][0]})


def _uuid(value: Any) -> str:
    """SQLite stores Django's UUIDs as 32 hex digits; the groups are named with the dashed form."""
    text = str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


_watchers: dict[int, DataVersionWatcher] = {}  # one per event loop (daphne has one; tests make several)


def watcher() -> DataVersionWatcher:
    loop = asyncio.get_running_loop()
    found = _watchers.get(id(loop))
    if found is None:
        path = str(connections["default"].settings_dict["NAME"])
        found = _watchers[id(loop)] = DataVersionWatcher(path, settings.SSE_WAKE_SECONDS)
    return found
