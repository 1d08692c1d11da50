"""Reads: clusters and jobs scoped to the user who asks (staff see everything).

A cluster is *usable* by its owner and by members of the groups it is shared with (deploy onto it, see its
health); it is *manageable* (change, share, delete) only by its owner and staff.
"""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.http import Http404

from budportal.errors import ForbiddenError
from clusterjobs.models import HEALTH_CACHE_KEY, Cluster, Job

ADD_CLUSTER_PERMISSION = "clusterjobs.add_cluster"


def can_add_cluster(user) -> bool:
    """Registering a cluster points the portal at an address of the user's choosing (API servers are usually
    on private networks), so it is a permission an admin grants; staff and superusers have it."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm(ADD_CLUSTER_PERMISSION)))


def cluster_list(*, user) -> QuerySet[Cluster]:
    """Clusters the user may use: their own and those shared with one of their groups."""
    qs = Cluster.objects.select_related("owner")
    if user.is_staff:
        return qs
    shared = Cluster.objects.filter(shared_with_groups__in=user.groups.all()).values("pk")
    return qs.filter(Q(owner=user) | Q(pk__in=shared))


def cluster_get(*, user, cluster_id: uuid.UUID | str) -> Cluster:
    """The cluster if ``user`` may use it; 404 otherwise (someone else's cluster does not exist for you)."""
    try:
        return cluster_list(user=user).get(pk=cluster_id)
    except (Cluster.DoesNotExist, ValueError, TypeError, Cluster.MultipleObjectsReturned):
        raise Http404("cluster not found") from None


def cluster_last_health(*, clusters: list[Cluster]) -> dict[str, bool]:
    """``{cluster id: healthy}`` for the clusters checked in the last few minutes (others are unknown)."""
    keys = {HEALTH_CACHE_KEY.format(c.pk): str(c.pk) for c in clusters}
    return {keys[key]: bool(value) for key, value in cache.get_many(list(keys)).items()}


def cluster_by_health(*, clusters: list[Cluster]) -> list[Cluster]:
    """Clusters in their order, but those unreachable when last checked at the end (never offered first);
    each gets ``last_healthy`` (True, False or None when unknown)."""
    health = cluster_last_health(clusters=clusters)
    for cluster in clusters:
        setattr(cluster, "last_healthy", health.get(str(cluster.pk)))  # noqa: B010 (a display attribute, not a field)
    return sorted(clusters, key=lambda c: health.get(str(c.pk)) is False)


def can_manage_cluster(*, user, cluster: Cluster) -> bool:
    return bool(user.is_staff or cluster.owner_id == user.pk)


def cluster_get_for_change(*, user, cluster_id: uuid.UUID | str) -> Cluster:
    """The cluster if ``user`` may change or delete it; 403 for a member of a group it is shared with."""
    cluster = cluster_get(user=user, cluster_id=cluster_id)
    if not can_manage_cluster(user=user, cluster=cluster):
        raise ForbiddenError("only the cluster's owner can change or delete it")
    return cluster


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
