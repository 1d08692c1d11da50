"""Portal pages of the clusterjobs app: the clusters page (add from a kubeconfig, health badges, delete)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budportal.errors import ConflictError, ForbiddenError, ServiceValidationError
from clusterjobs import selectors, services
from clusterjobs.filters import ClusterFilter
from clusterjobs.forms import ClusterForm
from pipelines.listing import list_page


def _clusters_page(request: HttpRequest, form: ClusterForm, status: int = 200) -> HttpResponse:
    listing = list_page(ClusterFilter, request, selectors.cluster_list(user=request.user))
    context = {
        "clusters": listing.page.items,
        "listing": listing,
        "form": form,
        "can_add_cluster": selectors.can_add_cluster(request.user),
    }
    return render(request, "clusterjobs/cluster_list.html", context, status=status)


@sensitive_post_parameters("kubeconfig")
@sensitive_variables("form", "data")
@login_required
@require_http_methods(["GET", "POST"])
def cluster_list(request: HttpRequest) -> HttpResponse:
    """The user's clusters, and the form that registers another one through ``cluster_create``."""
    if request.method == "GET":
        return _clusters_page(request, ClusterForm())
    if not selectors.can_add_cluster(request.user):
        raise PermissionDenied("registering clusters needs the clusterjobs.add_cluster permission")
    form = ClusterForm(request.POST, request.FILES)
    if not form.is_valid():
        return _clusters_page(request, form, status=422)
    data = form.cleaned_data
    try:
        cluster = services.cluster_create(
            owner=request.user,
            name=data["name"],
            kubeconfig=data["kubeconfig"],
            ingress_url=data.get("ingress_url") or "",
        )
    except ServiceValidationError as exc:
        for error in exc.errors:
            field = error["loc"][0] if error["loc"] and error["loc"][0] in form.fields else None
            form.add_error(field, error["msg"])
        return _clusters_page(request, form, status=422)
    health = services.cluster_health(cluster=cluster)
    if health["healthy"]:
        messages.success(request, f"Cluster {cluster.name} added.")
    else:
        messages.warning(
            request,
            f"Cluster {cluster.name} was added, but its API server is not reachable now ({health['error']}). "
            "Deployments onto it will fail until it is; check the kubeconfig's server address and network.",
        )
    return redirect("clusterjobs:cluster-list")


@login_required
@require_GET
def cluster_health(request: HttpRequest, cluster_id: uuid.UUID) -> HttpResponse:
    """The health badge fragment (the page asks for it with ``hx-get`` once it has loaded)."""
    cluster = selectors.cluster_get(user=request.user, cluster_id=cluster_id)
    health = services.cluster_health(cluster=cluster)
    return render(request, "clusterjobs/partials/cluster_health.html", {"cluster": cluster, "health": health})


@login_required
@require_POST
def cluster_delete(request: HttpRequest, cluster_id: uuid.UUID) -> HttpResponse:
    cluster = selectors.cluster_get(user=request.user, cluster_id=cluster_id)
    try:
        services.cluster_delete(cluster=selectors.cluster_get_for_change(user=request.user, cluster_id=cluster.pk))
    except (ConflictError, ForbiddenError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Cluster {cluster.name} deleted.")
    return redirect("clusterjobs:cluster-list")
