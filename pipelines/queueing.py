"""Handing steps to the django-q2 broker: in bulk, after commit, and not past a queue depth.

``async_task`` per ready step cost a broker client and a broker write each (on the embedded ORM broker, one
SQLite transaction each): a 500-step fan-out kept its submit request busy for 2.8 s. Here django-q2 still
builds and signs every task package (through a collecting stand-in broker), and the packages reach the real
broker in one write: one ``RPUSH`` on Redis, one multi-row ``INSERT`` on the ORM broker.

``admit`` is the backpressure: while the queue is deeper than ``PIPELINE_MAX_QUEUE_DEPTH`` new submissions are
refused with ``Overloaded`` (HTTP 429 + Retry-After) instead of growing the queue without bound. Work already
admitted (a running execution's next steps, stop/delete clean-ups) is never refused.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.utils import timezone

from budportal.errors import Overloaded

STEP_TASK = "pipelines.tasks.run_step"
STEPS_TASK = "pipelines.tasks.run_steps"  # a chunk of batchable steps; run_step stays for in-flight tasks
# Queue depth is read at most this often per process: a burst of submissions must not each ask the broker.
DEPTH_CACHE_SECONDS = 1.0
# A rough drain rate for Retry-After: what two workers do with no-op steps, conservatively.
DRAIN_PER_SECOND = 200


class _Collector:
    """Stands in for the broker in ``async_task``: keeps the signed packages instead of pushing them."""

    def __init__(self, list_key: str) -> None:
        self.list_key = list_key
        self.packs: list[Any] = []

    def enqueue(self, pack: Any) -> int:
        self.packs.append(pack)
        return len(self.packs)


_local = threading.local()


def broker():
    """One broker per process (and per thread: the ORM broker's connection is the thread's own); django-q2's
    ``get_broker()`` builds a new client, for Redis a new connection pool, on every call."""
    from django_q.brokers import get_broker

    cached = getattr(_local, "broker", None)
    if cached is None or cached[0] != os.getpid():
        cached = (os.getpid(), get_broker())
        _local.broker = cached
    return cached[1]


def dispatch_steps(step_pks: list[int], *, chunk: int = 1) -> None:
    """Queue ``run_step`` for every pk with one broker write (inline with django-q2 ``sync``); with ``chunk``
    > 1, ``run_steps`` per that many pks (batchable steps: one worker claims a chunk in one statement)."""
    from django_q.tasks import async_task

    if not step_pks:
        return
    real = broker()
    collector = _Collector(real.list_key)
    if chunk > 1 and len(step_pks) > 1:
        for start in range(0, len(step_pks), chunk):
            pks = list(step_pks[start : start + chunk])
            name = f"steps-{pks[0]}-{len(pks)}"
            async_task(STEPS_TASK, pks, task_name=name, save=False, broker=collector)
    else:
        for pk in step_pks:
            # save=False: a step's state lives in the engine's own tables, and a kept result per task
            # (Q_SAVE_LIMIT) makes django-q2's monitor read and row-lock every kept result on each save.
            async_task(STEP_TASK, pk, task_name=f"step-{pk}", save=False, broker=collector)
    _push(real, collector.packs)


def _push(real, packs: list[Any]) -> None:
    if not packs:  # sync mode ran them inline
        return
    from django_q.brokers.orm import ORM
    from django_q.brokers.redis_broker import Redis

    if isinstance(real, Redis):
        real.connection.rpush(real.list_key, *packs)
    elif isinstance(real, ORM):
        from django_q.models import OrmQ

        now = timezone.now()
        real.get_connection().bulk_create([OrmQ(key=real.list_key, payload=pack, lock=now) for pack in packs])
    else:
        for pack in packs:
            real.enqueue(pack)


_depth = threading.local()


def queue_depth() -> int:
    """Tasks waiting in the broker (cached for ``DEPTH_CACHE_SECONDS``)."""
    now = time.monotonic()
    cached = getattr(_depth, "value", None)
    if cached is not None and now - cached[0] < DEPTH_CACHE_SECONDS:
        return cached[1]
    depth = int(broker().queue_size() or 0)
    _depth.value = (now, depth)
    return depth


def admit() -> None:
    """Refuse new work while the queue is deeper than ``PIPELINE_MAX_QUEUE_DEPTH`` (0: never refuse)."""
    limit = int(getattr(settings, "PIPELINE_MAX_QUEUE_DEPTH", 0) or 0)
    if not limit:
        return
    depth = queue_depth()
    if depth > limit:
        retry_after = min(max(math.ceil((depth - limit) / DRAIN_PER_SECOND), 1), 60)
        raise Overloaded(
            f"the task queue holds {depth} tasks (limit {limit}); retry in {retry_after} s", retry_after=retry_after
        )
