"""Reads for deployments, scoped to the user who asks (staff see all; someone else's deployment is a 404)."""

from __future__ import annotations

import uuid

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from usecases.models.deployments import ComponentDeployment, DeploymentRevision, RevisionStatus, UseCaseDeployment


def deployment_list(*, user, status: str | None = None, template: str | None = None) -> QuerySet[UseCaseDeployment]:
    latest = (
        DeploymentRevision.objects.filter(deployment=OuterRef("pk"))
        .exclude(status=RevisionStatus.DRAFT)
        .order_by("-number")
        .values("status")[:1]
    )
    qs = (
        UseCaseDeployment.objects.select_related("owner")
        .prefetch_related(Prefetch("components", queryset=ComponentDeployment.objects.order_by("position")))
        .annotate(latest_revision_status=Subquery(latest))
    )
    if not user.is_staff:
        qs = qs.filter(owner=user)
    if status:
        qs = qs.filter(status=status)
    if template:
        qs = qs.filter(template_name=template)
    return qs


def deployment_template_names(*, user) -> list[str]:
    """The templates the user's deployments use (the list page's template filter)."""
    return sorted(set(deployment_list(user=user).values_list("template_name", flat=True)))


def deployment_owner_names(*, user) -> list[str]:
    """Who owns the deployments ``user`` can see (staff filter by owner)."""
    return sorted(set(deployment_list(user=user).values_list("owner__username", flat=True)))


def deployment_namespaces(*, user, cluster) -> list[dict[str, object]]:
    """The namespaces the user's deployments hold on ``cluster``, each with its deployment's name and status."""
    rows = deployment_list(user=user).filter(cluster=cluster).order_by("namespace")
    return [
        {"namespace": ns, "deployment": name, "status": status}
        for ns, name, status in rows.values_list("namespace", "name", "status")
    ]


def deployment_get(*, user, deployment_id: uuid.UUID | str) -> UseCaseDeployment:
    """The deployment if ``user`` may see it; 404 otherwise."""
    try:
        return deployment_list(user=user).get(pk=deployment_id)
    except (UseCaseDeployment.DoesNotExist, ValueError, TypeError):
        raise Http404("deployment not found") from None


def revision_list(*, user, deployment_id: uuid.UUID | str) -> QuerySet[DeploymentRevision]:
    """The deployment's revisions, newest first (404 unless ``user`` may see the deployment)."""
    deployment = deployment_get(user=user, deployment_id=deployment_id)
    return deployment.revisions.select_related("created_by").order_by("-number")


def revision_get(*, user, deployment_id: uuid.UUID | str, number: int) -> DeploymentRevision:
    try:
        return revision_list(user=user, deployment_id=deployment_id).get(number=number)
    except DeploymentRevision.DoesNotExist:
        raise Http404("revision not found") from None
