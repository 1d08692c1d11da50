"""Reads: clusters and jobs scoped to the user who asks (staff see everything)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from clusterjobs.models import Cluster, Job


def cluster_list(*, user) -> QuerySet[Cluster]:
    qs = Cluster.objects.select_related("owner")
    return qs if user.is_staff else qs.filter(owner=user)


def cluster_get(*, user, cluster_id: uuid.UUID | str) -> Cluster:
    """The cluster if ``user`` may see it; 404 otherwise (someone else's cluster does not exist for you)."""
    try:
        return cluster_list(user=user).get(pk=cluster_id)
    except (Cluster.DoesNotExist, ValueError, TypeError):
        raise Http404("cluster not found") from None


def job_list(*, user, source_id: str | None = None, cluster_id: uuid.UUID | None = None) -> QuerySet[Job]:
    qs = Job.objects.all() if user.is_staff else Job.objects.filter(owner=user)
    if source_id:
        qs = qs.filter(source_id=source_id)
    if cluster_id:
        qs = qs.filter(cluster_id=cluster_id)
    return qs


def job_get(*, user, job_id: uuid.UUID | str) -> Job:
    try:
        return job_list(user=user).get(pk=job_id)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise Http404("job not found") from None
