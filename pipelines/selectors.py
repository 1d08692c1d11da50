"""Reads of the pipelines app, scoped to the user (staff see everything)."""

from __future__ import annotations

import uuid

from django.apps import apps
from django.db.models import Q, QuerySet
from django.http import Http404

from pipelines.models import Event, Notification, PipelineExecution, SavedPipeline


def execution_list(*, user) -> QuerySet[PipelineExecution]:
    qs = PipelineExecution.objects.all()
    return qs if user.is_staff else qs.filter(owner=user)


def execution_get(*, user, execution_id: uuid.UUID | str) -> PipelineExecution:
    execution = execution_list(user=user).filter(pk=execution_id).first()
    if execution is None:
        raise Http404("No such execution.")
    return execution


def event_list(
    *,
    user,
    after: int = 0,
    execution_id: uuid.UUID | None = None,
    deployment_id: uuid.UUID | None = None,
    limit: int | None = None,
) -> QuerySet[Event]:
    """Events of the user's executions and deployments, oldest first, after the id ``after``."""
    qs = Event.objects.filter(id__gt=after)
    if not user.is_staff:
        qs = qs.filter(Q(execution__owner=user) | _my_deployments(user))
    if execution_id:
        qs = qs.filter(execution_id=execution_id)
    if deployment_id:
        qs = qs.filter(deployment_id=deployment_id)
    qs = qs.order_by("id")
    return qs if limit is None else qs[: max(1, min(limit, 1000))]


def _my_deployments(user) -> Q:
    """Deployments the user owns: those of their executions, and the usecases app's rows when it is installed
    (events of a deployment can precede its first execution)."""
    mine = PipelineExecution.objects.filter(owner=user).exclude(deployment_id=None).values("deployment_id")
    condition = Q(deployment_id__in=mine)
    try:
        deployment_model = apps.get_model("usecases", "Deployment")
    except LookupError:
        return condition
    return condition | Q(deployment_id__in=deployment_model.objects.filter(owner=user).values("pk"))


def notification_list(*, user, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user=user)
    return qs.filter(read_at=None) if unread_only else qs


def notification_unread_count(*, user) -> int:
    """The one unread count: the bell, its dropdown and the dashboard card all show this number."""
    return notification_list(user=user, unread_only=True).count()


def notification_get(*, user, notification_id: int) -> Notification:
    note = Notification.objects.filter(user=user, pk=notification_id).first()
    if note is None:
        raise Http404("No such notification.")
    return note


def saved_pipeline_list(*, user) -> QuerySet[SavedPipeline]:
    qs = SavedPipeline.objects.all()
    return qs if user.is_staff else qs.filter(owner=user)


def saved_pipeline_get(*, user, pipeline_id: uuid.UUID | str) -> SavedPipeline:
    """One of the user's saved pipelines (staff: any); someone else's is a 404, as a missing one."""
    pipeline = saved_pipeline_list(user=user).filter(pk=pipeline_id).first()
    if pipeline is None:
        raise Http404("No such pipeline.")
    return pipeline


def saved_pipeline_for_webhook(*, pipeline_id: uuid.UUID) -> SavedPipeline | None:
    """The pipeline a webhook names, with its owner (who the run belongs to); the caller checks the secret."""
    return SavedPipeline.objects.select_related("owner").filter(pk=pipeline_id).first()


def saved_pipeline_runs(*, pipeline: SavedPipeline, limit: int = 50) -> QuerySet[PipelineExecution]:
    return PipelineExecution.objects.filter(saved_pipeline=pipeline).order_by("-created_at")[: max(1, min(limit, 500))]
