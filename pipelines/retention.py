"""Retention: the sweep deletes old events and old finished executions, a bounded batch per run.

The event log and the execution tables otherwise grow forever, and every read of them (the SSE replay, the
event API, the sweep itself) slows down with them. ``PIPELINE_RETENTION_SECONDS`` (default 30 days; 0 keeps
everything) is the age after which a finished execution (with its steps and events) and an event of no
execution are deleted. Never deleted: anything of a running execution, events not yet delivered to every
handler, and whatever a layer above protects through ``protect``: pipelines knows nothing of deployments, so
the usecases app registers which deployments are not at rest and which executions its deployments still point
at. Each run deletes at most ``PIPELINE_RETENTION_BATCH`` executions and as many events, oldest first, so one
sweep never holds locks for long; a backlog drains over successive sweeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from pipelines.models import EXECUTION_FINISHED, Event, PipelineExecution

logger = logging.getLogger(__name__)


class Protected:
    """What a layer above forbids pruning: ``deployments()`` → ids of deployments not at rest (their events and
    executions are kept); ``executions()`` → ids of executions still referenced (kept whatever their age).
    Either may return a queryset of ids (used as a subquery) or any iterable."""

    def __init__(
        self,
        *,
        deployments: Callable[[], Iterable[Any]] | None = None,
        executions: Callable[[], Iterable[Any]] | None = None,
    ) -> None:
        self.deployments = deployments
        self.executions = executions


_protected: dict[str, Protected] = {}


def protect(name: str, protected: Protected) -> None:
    """Register (from ``AppConfig.ready()``) what must not be pruned; the same name again replaces it."""
    _protected[name] = protected


def retention_seconds() -> int:
    return max(int(getattr(settings, "PIPELINE_RETENTION_SECONDS", 0) or 0), 0)


def batch_size() -> int:
    return max(int(getattr(settings, "PIPELINE_RETENTION_BATCH", 500) or 500), 1)


def _exclude_protected(executions, events):
    for protected in _protected.values():
        if protected.deployments is not None:
            busy = protected.deployments()
            executions = executions.exclude(deployment_id__in=busy)
            events = events.exclude(deployment_id__in=busy)
        if protected.executions is not None:
            executions = executions.exclude(pk__in=protected.executions())
    return executions, events


def prune() -> dict[str, int]:
    """One bounded batch: ``{"executions_pruned": n, "events_pruned": m}`` (events counted without those that
    went with their executions)."""
    seconds = retention_seconds()
    if not seconds:
        return {"executions_pruned": 0, "events_pruned": 0}
    cutoff = timezone.now() - timedelta(seconds=seconds)
    limit = batch_size()
    executions = PipelineExecution.objects.filter(status__in=EXECUTION_FINISHED, completed_at__lt=cutoff)
    # Events of an execution go with it; these are the ones of no execution (deployment and job events).
    events = Event.objects.filter(execution__isnull=True, delivered=True, created_at__lt=cutoff)
    executions, events = _exclude_protected(executions, events)
    old = list(executions.order_by("completed_at").values_list("pk", flat=True)[:limit])
    if old:
        # Steps and events are removed by one DELETE ... WHERE execution_id IN (...) each (no per-row signals).
        PipelineExecution.objects.filter(pk__in=old).delete()
    event_ids = list(events.order_by("id").values_list("pk", flat=True)[:limit])
    if event_ids:
        Event.objects.filter(pk__in=event_ids).delete()
    return {"executions_pruned": len(old), "events_pruned": len(event_ids)}
