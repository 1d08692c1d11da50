"""The page of one cluster: its health, and the deployments and namespaces the portal has on it.

It lives in usecases because it lists deployments (clusterjobs knows nothing about them)."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from budportal.http import PageRequest
from clusterjobs.selectors import can_manage_cluster, cluster_get
from pipelines.listing import list_page
from usecases.filters import DeploymentFilter
from usecases.selectors import deployments as deployment_selectors


@login_required
@require_GET
def cluster_detail(request: PageRequest, cluster_id: uuid.UUID) -> HttpResponse:
    """Someone else's cluster is a 404; the deployments listed are the ones the user may see."""
    cluster = cluster_get(user=request.user, cluster_id=cluster_id)
    on_cluster = deployment_selectors.deployment_list(user=request.user).filter(cluster=cluster)
    listing = list_page(DeploymentFilter, request, on_cluster)
    context = {
        "cluster": cluster,
        "listing": listing,
        "deployments": listing.page.items,
        "namespaces": deployment_selectors.deployment_namespaces(user=request.user, cluster=cluster),
        "can_manage": can_manage_cluster(user=request.user, cluster=cluster),
    }
    return render(request, "usecases/cluster_detail.html", context)
