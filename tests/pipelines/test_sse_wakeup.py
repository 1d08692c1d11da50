"""Embedded SSE wake-ups: a commit by another process to the SQLite file wakes this process's streams at once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path

import pytest
from channels.layers import get_channel_layer

from pipelines.models import Event
from pipelines.sse_wakeup import DataVersionWatcher

TABLE = Event._meta.db_table
# The watcher runs only in the embedded configuration (SQLite file + in-memory channel layer); with REDIS_URL the
# workers wake the streams through channels-redis instead (tests/production).
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="embedded SSE wake-ups: pass 2 wakes streams through channels-redis"
)


def _database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, execution_id TEXT, deployment_id TEXT)")
        db.execute(f"INSERT INTO {TABLE} (execution_id) VALUES ('old')")


def _commit_event(path: Path, execution: uuid.UUID | None, deployment: uuid.UUID | None) -> None:
    """What a worker process does: its own connection, its own transaction."""
    with sqlite3.connect(path) as db:
        db.execute(
            f"INSERT INTO {TABLE} (execution_id, deployment_id) VALUES (?, ?)",
            (execution.hex if execution else None, deployment.hex if deployment else None),
        )


async def _receive(layer, channel: str, timeout: float) -> dict | None:
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return None


@pytest.mark.asyncio
async def test_it_wakes_the_streams_of_the_committed_events_within_a_poll_interval(tmp_path: Path) -> None:
    path = tmp_path / "portal.sqlite3"
    _database(path)
    layer = get_channel_layer()
    execution, deployment, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    streams = {name: await layer.new_channel() for name in ("execution", "deployment", "other")}
    await layer.group_add(f"execution-{execution}", streams["execution"])
    await layer.group_add(f"deployment-{deployment}", streams["deployment"])
    await layer.group_add(f"execution-{other}", streams["other"])
    watcher = DataVersionWatcher(str(path), interval=0.02)
    watcher.stream_opened()
    try:
        await asyncio.sleep(0.2)  # the watcher has read the current state: older events wake nobody
        await asyncio.to_thread(_commit_event, path, execution, deployment)
        # Only the watcher sends to these channels (how soon: tests/bench/bench_sse.py).
        woken = await _receive(layer, streams["execution"], 10.0)
        assert woken is not None
        assert woken["type"] == "event.wakeup"
        assert woken["id"] == 2
        assert (await _receive(layer, streams["deployment"], 1.0)) is not None
        assert (await _receive(layer, streams["other"], 0.3)) is None  # another execution's stream sleeps on
    finally:
        watcher.stream_closed()
        await asyncio.wait_for(watcher.task, 2)  # the watcher stops with its last stream
    assert watcher.task.done()


@pytest.mark.asyncio
async def test_a_broken_database_stops_the_watcher_quietly(tmp_path: Path) -> None:
    watcher = DataVersionWatcher(str(tmp_path / "missing" / "db.sqlite3"), interval=0.02)
    watcher.stream_opened()
    await asyncio.wait_for(watcher.task, 2)  # logged; the streams fall back to SSE_POLL_SECONDS
    assert watcher.task.done()
    assert watcher.task.exception() is None
