"""Server-Sent Events streams of the event log.

Channels 4.3 stops an ``AsyncHttpConsumer`` as soon as ``handle()`` returns (django/channels#1302), so
``http_request`` is overridden to keep the consumer alive while the stream runs. The table is the truth: events
are replayed after ``Last-Event-ID`` (header) or ``?last_event_id=``, then streamed as they are committed. A
channel-layer wake-up makes delivery immediate: from any process with Redis, and on the embedded default from the
SQLite watcher (``pipelines.sse_wakeup``); a re-read every ``SSE_POLL_SECONDS`` is the safety net.
``: ping`` heartbeats keep proxies from closing the connection.

Subclass ``EventStreamConsumer`` for other streams: implement ``load_object``, ``event_filter`` and
``is_finished``; override ``render_event`` to send HTML fragments instead of JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings
from django.db.models import Q

from pipelines import sse_wakeup
from pipelines.execution_events import topics
from pipelines.logcontext import bind_log_context
from pipelines.metrics import SSE_STREAMS_OPEN
from pipelines.models import Event, PipelineExecution
from pipelines.selectors import execution_list

logger = logging.getLogger(__name__)
LAYER_TIMEOUT_SECONDS = 2.0

BATCH = 200


def sse_message(event_id: int | None, event_type: str, data: str) -> bytes:
    """One SSE message: ``id``, ``event`` and one ``data:`` line per line of ``data``, then a blank line."""
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines.append(f"event: {event_type}")
    lines += [f"data: {line}" for line in (data.splitlines() or [""])]
    return ("\n".join(lines) + "\n\n").encode()


class EventStreamConsumer(AsyncHttpConsumer):
    group_prefix = "execution"

    async def http_request(self, message: dict) -> None:
        # The base class raises StopConsumer right after handle() returns, so group messages (the wake-ups)
        # would never be dispatched. Here handle() only starts the stream as a task and the consumer stays
        # alive; it stops on the client's http.disconnect or when the stream sends ``stream.finished``.
        if "body" in message:
            self.body.append(message["body"])
        if not message.get("more_body"):
            await self.handle(b"".join(self.body))

    async def http_disconnect(self, message: dict) -> None:
        task = getattr(self, "stream_task", None)
        if task is not None and not task.done():
            task.cancel()
        await self.disconnect()
        raise StopConsumer()

    async def stream_finished(self, message: dict) -> None:
        await self.disconnect()
        raise StopConsumer()

    # --- what a subclass decides -----------------------------------------------------------------
    def load_object(self, user: Any) -> Any | None:
        """The streamed object if ``user`` may see it, else None (→ 404). Runs in a thread."""
        raise NotImplementedError

    def event_filter(self) -> Q:
        raise NotImplementedError

    def is_finished(self) -> bool:
        """True when no more events will come (re-read from the database). Runs in a thread."""
        raise NotImplementedError

    def render_event(self, event: Event) -> bytes:
        return sse_message(event.pk, event.type, json.dumps(event.payload, default=str))

    # --- the stream --------------------------------------------------------------------------------
    async def handle(self, body: bytes) -> None:
        user = self.scope.get("user")
        self.object = None
        if user is not None and user.is_authenticated and user.is_active:
            self.object = await database_sync_to_async(self.load_object)(user)
        if self.object is None:
            await self.send_response(404, b"Not found", headers=[(b"Content-Type", b"text/plain")])
            await self.channel_layer.send(self.channel_name, {"type": "stream.finished"})
            return
        self.group = f"{self.group_prefix}-{self.object.pk}"
        self.wakeup = asyncio.Event()
        await self._layer(self.channel_layer.group_add(self.group, self.channel_name))
        if sse_wakeup.enabled():
            self.watcher = sse_wakeup.watcher()
            self.watcher.stream_opened()
        await self.send_headers(
            headers=[
                (b"Content-Type", b"text/event-stream"),
                (b"Cache-Control", b"no-cache"),
                (b"X-Accel-Buffering", b"no"),
            ]
        )
        await self.send_body(b": connected\n\n", more_body=True)
        bind_log_context(**{f"{self.group_prefix}_id": self.object.pk})
        self.stream_task = asyncio.create_task(self.run_stream(self.last_event_id()))

    async def run_stream(self, last_id: int) -> None:
        SSE_STREAMS_OPEN.inc()
        try:
            await self.stream(last_id)
        finally:
            SSE_STREAMS_OPEN.dec()  # also when the client goes away (the task is cancelled)
        await self.send_body(b"", more_body=False)
        await self._layer(self.channel_layer.send(self.channel_name, {"type": "stream.finished"}))

    async def _layer(self, call: Any) -> None:
        """A channel-layer call that may not hang the stream: right after a Redis restart channels-redis can
        wait on a dead connection. The layer only wakes the stream early; the log is re-read every
        ``SSE_POLL_SECONDS`` anyway, so the stream goes on without it."""
        try:
            await asyncio.wait_for(call, LAYER_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - TimeoutError or the layer's connection error: poll instead
            logger.warning("SSE %s: channel layer unavailable; polling the event log", getattr(self, "group", "?"))

    def last_event_id(self) -> int:
        headers = dict(self.scope.get("headers") or [])
        raw = (
            headers.get(b"last-event-id", b"").decode()
            or (parse_qs(self.scope.get("query_string", b"").decode()).get("last_event_id", [""])[0])
        )
        return int(raw) if raw.isdigit() else 0

    async def stream(self, last_id: int) -> None:
        poll, heartbeat = settings.SSE_POLL_SECONDS, settings.SSE_HEARTBEAT_SECONDS
        last_beat = time.monotonic()
        while True:
            finished, events = await database_sync_to_async(self.read_state)(last_id)
            for event in events:
                await self.send_body(self.render_event(event), more_body=True)
                last_id = event.pk
            if finished and len(events) < BATCH:
                return  # finished was read before the events, so its last events are already sent
            if events:
                continue
            if time.monotonic() - last_beat >= heartbeat:
                await self.send_body(b": ping\n\n", more_body=True)
                last_beat = time.monotonic()
            # Streams opened together would re-read together, a burst every interval that delays the requests
            # in between: each wait is drawn from 75-125 % of the interval, so the re-reads spread out.
            await self.wait_for_wakeup(min(poll, heartbeat) * random.uniform(0.75, 1.25))

    def read_state(self, after: int) -> tuple[bool, list[Event]]:
        """Whether the stream may end, then the events after ``after``: one thread hop for both."""
        finished = self.is_finished()
        return finished, self.read_events(after)

    def read_events(self, after: int) -> list[Event]:
        return list(Event.objects.filter(self.event_filter(), id__gt=after).order_by("id")[:BATCH])

    async def wait_for_wakeup(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.wakeup.wait(), timeout)
        except TimeoutError:
            pass
        self.wakeup.clear()

    async def event_wakeup(self, message: dict) -> None:
        self.wakeup.set()

    async def disconnect(self) -> None:
        watcher, self.watcher = getattr(self, "watcher", None), None
        if watcher is not None:
            watcher.stream_closed()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)


class ExecutionEventsConsumer(EventStreamConsumer):
    """``/executions/<id>/events``: the execution's own events (its first callback topic)."""

    group_prefix = "execution"

    def load_object(self, user: Any) -> PipelineExecution | None:
        # The stream needs pk, callback_topics and status, not a (possibly 5,000-step) DAG to parse.
        executions = execution_list(user=user).defer("dag")
        return executions.filter(pk=self.scope["url_route"]["kwargs"]["execution_id"]).first()

    def event_filter(self) -> Q:
        return Q(execution_id=self.object.pk, topic=topics(self.object)[0])

    def is_finished(self) -> bool:
        self.object.refresh_from_db(fields=["status"])
        return self.object.is_finished
