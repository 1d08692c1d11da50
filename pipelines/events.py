"""The event bus: a durable log first (the ``Event`` table), in-process subscribers and the channel layer second.

``publish`` appends an ``Event`` row in the caller's transaction. After commit the event is dispatched, in the
publishing process, to every handler subscribed to its topic; a handler that raises is re-queued as the django-q2
task ``pipelines.tasks.dispatch_event`` and the periodic sweep redelivers anything still undelivered, so a
failing handler never blocks the publisher and an event is never lost. Handlers must be idempotent. Finally a
wake-up is sent to the ``execution-<id>`` / ``deployment-<id>`` channel groups for SSE streams (best effort).
Quick retries (``MAX_DISPATCH_FAILURES - 1`` of them, with a short growing pause) cover a blip; after that the
sweep keeps redelivering once per run until every handler has succeeded.

This is the only module that calls ``group_send``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.db.models import F
from django_q.tasks import async_task

from pipelines.models import Event

logger = logging.getLogger(__name__)

JOB_EVENTS_TOPIC = "budpipelineEvents"


class EventType(StrEnum):
    """The ``type`` of every event the portal publishes (topics and payloads: docs/architecture.md)."""

    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"
    STEP_STARTED = "step_started"
    STEP_AWAITING_EVENT = "step_awaiting_event"
    STEP_RETRYING = "step_retrying"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    WORKFLOW_PROGRESS = "workflow_progress"
    EXECUTION_COMPLETED = "execution_completed"


MAX_DISPATCH_FAILURES = 5

Handler = Callable[[Event], None]


@dataclass(frozen=True)
class Subscription:
    topic: str
    name: str
    handler: Handler


_subscriptions: dict[str, dict[str, Subscription]] = {}


def subscribe(topic: str, handler: Handler, *, name: str) -> None:
    """Register ``handler`` for ``topic`` (call from ``AppConfig.ready()``). ``name`` identifies it in
    ``Event.handled_by``; registering the same name again replaces the handler."""
    _subscriptions.setdefault(topic, {})[name] = Subscription(topic=topic, name=name, handler=handler)


def subscribers(topic: str) -> list[Subscription]:
    return list(_subscriptions.get(topic, {}).values())


def group_names(event: Event) -> list[str]:
    groups = []
    if event.execution_id:
        groups.append(f"execution-{event.execution_id}")
    if event.deployment_id:
        groups.append(f"deployment-{event.deployment_id}")
    return groups


def publish(
    topic: str,
    event_type: str,
    payload: dict,
    *,
    execution_id: uuid.UUID | str | None = None,
    step_id: str | None = None,
    deployment_id: uuid.UUID | str | None = None,
) -> Event:
    """Append an event in the current transaction; dispatch and wake SSE streams after commit."""
    workflow_id = payload.get("workflow_id") if isinstance(payload, dict) else None
    event = Event.objects.create(
        topic=topic,
        type=event_type,
        payload=payload,
        execution_id=execution_id,
        step_id=step_id or "",
        deployment_id=deployment_id,
        workflow_id=str(workflow_id) if workflow_id else "",
        delivered=not subscribers(topic),
    )
    transaction.on_commit(lambda: _after_commit(event))
    return event


def publish_many(items: list[dict]) -> list[Event]:
    """``publish`` for several events with one multi-row INSERT and one after-commit callback (a batch of
    steps recorded in one transaction). Each item holds ``publish``'s arguments as keys: ``topic``,
    ``event_type``, ``payload`` and optionally ``execution_id``, ``step_id``, ``deployment_id``. SSE streams
    get one wake-up per group for the whole batch (they re-read the log after their last id anyway)."""
    events = []
    for item in items:
        payload = item["payload"]
        workflow_id = payload.get("workflow_id") if isinstance(payload, dict) else None
        events.append(
            Event(
                topic=item["topic"],
                type=item["event_type"],
                payload=payload,
                execution_id=item.get("execution_id"),
                step_id=item.get("step_id") or "",
                deployment_id=item.get("deployment_id"),
                workflow_id=str(workflow_id) if workflow_id else "",
                delivered=not subscribers(item["topic"]),
            )
        )
    if not events:
        return events
    Event.objects.bulk_create(events)  # ids come back (RETURNING) on PostgreSQL and SQLite >= 3.35
    transaction.on_commit(lambda: _after_commit_many(events))
    return events


def _after_commit_many(events: list[Event]) -> None:
    last: dict[tuple, Event] = {}
    for event in events:
        if not event.delivered:
            try:
                dispatch(event)
            except Exception:  # the publisher has committed; never fail it afterwards
                logger.exception("dispatch of event %s failed", event.pk)
        last[tuple(group_names(event))] = event  # events are in id order: the last one per group set wins
    for event in last.values():
        wake(event)


def _after_commit(event: Event) -> None:
    try:
        dispatch(event)
    except Exception:  # the publisher has committed; never fail it afterwards
        logger.exception("dispatch of event %s failed", event.pk)
    wake(event)


def dispatch(event: Event, only: str | None = None) -> None:
    """Run the subscribed handlers that have not handled ``event`` yet; queue a retry task for failures."""
    done = set(event.handled_by or [])
    failed = []
    for sub in subscribers(event.topic):
        if sub.name in done or (only and sub.name != only):
            continue
        try:
            sub.handler(event)
        except Exception:
            logger.exception("event handler %s failed on event %s", sub.name, event.pk)
            failed.append(sub.name)
            continue
        done.add(sub.name)
        _mark_handled(event, sub.name)
    for name in failed:
        _requeue(event, name)


def _mark_handled(event: Event, name: str) -> None:
    with transaction.atomic():
        row = Event.objects.select_for_update().only("handled_by").get(pk=event.pk)
        handled = list(row.handled_by or [])
        if name not in handled:
            handled.append(name)
        all_done = {s.name for s in subscribers(event.topic)} <= set(handled)
        Event.objects.filter(pk=event.pk).update(handled_by=handled, delivered=all_done)
    event.handled_by = handled


def _requeue(event: Event, name: str) -> None:
    Event.objects.filter(pk=event.pk).update(failures=F("failures") + 1)
    event.refresh_from_db(fields=["failures"])
    if event.failures < MAX_DISPATCH_FAILURES:
        async_task(
            "pipelines.tasks.dispatch_event", event.pk, name, task_name=f"dispatch-{event.pk}-{name}", save=False
        )  # the Event row records what was handled


def retry_delay(failures: int) -> float:
    """Pause before quick retry number ``failures``: 0.25 s, 0.5 s, 1 s, 2 s."""
    return min(0.25 * 2 ** max(failures - 1, 0), 2.0)


def redeliver_pending(limit: int = 200) -> int:
    """Sweep: dispatch events whose handlers have not all run — a crash between commit and dispatch, a lost
    retry task, or an outage that outlasted the quick retries. Never given up: the sweep period is the backoff."""
    events = list(Event.objects.filter(delivered=False).order_by("id")[:limit])
    for event in events:
        if not subscribers(event.topic):
            Event.objects.filter(pk=event.pk).update(delivered=True)
            continue
        dispatch(event)
    return len(events)


def wake(event: Event) -> None:
    """Tell SSE streams of the event's execution/deployment to read the log now. Best effort."""
    groups = group_names(event)
    if not groups:
        return
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        if not isinstance(layer, InMemoryChannelLayer):
            _waker.send(layer, groups, event.pk)
            return
        # Only streams in this very process can listen; a worker process has none, so skip the
        # event-loop round trip (SSE streams in the web process re-read the table anyway).
        for group in [g for g in groups if layer.groups.get(g)]:
            async_to_sync(layer.group_send)(group, {"type": "event.wakeup", "id": event.pk})
    except Exception:  # the event log is the truth; streams also poll it
        logger.debug("channel-layer wake-up for event %s failed", event.pk, exc_info=True)


class _Waker:
    """Sends wake-ups from one long-lived event loop per process, without making the publisher wait.

    ``async_to_sync`` per event built a fresh loop and Redis connection each time (~4 ms, three times per
    step). Wake-ups queued while a send is in flight are coalesced per group: a stream re-reads the whole
    log after its ``Last-Event-ID`` anyway.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pid = 0
        self.pending: dict[str, int] = {}

    def send(self, layer, groups: list[str], event_id: int) -> None:
        with self.lock:
            if self.loop is None or self.pid != os.getpid():  # a forked worker does not inherit the thread
                self.loop, self.pid, self.pending = asyncio.new_event_loop(), os.getpid(), {}
                threading.Thread(target=self.loop.run_forever, name="sse-waker", daemon=True).start()
            schedule = not self.pending
            for group in groups:
                self.pending[group] = max(self.pending.get(group, 0), event_id)
        if schedule:
            self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self._flush(layer)))

    async def _flush(self, layer) -> None:
        with self.lock:
            batch, self.pending = self.pending, {}
        for group, event_id in batch.items():
            try:
                await layer.group_send(group, {"type": "event.wakeup", "id": event_id})
            except Exception:
                logger.debug("channel-layer wake-up of %s failed", group, exc_info=True)


_waker = _Waker()
