"""The resource tree on the deployment page: the partial alone (polled), Refresh (a check now) and Resync.

Reads go through ``usecases.selectors``; the checks and Resync through ``usecases.services.health``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from budportal.errors import ConflictError
from budportal.http import PageRequest
from usecases.models.deployments import UseCaseDeployment
from usecases.selectors import deployments as deployment_selectors
from usecases.selectors.resources import deployment_health_get
from usecases.services import health as health_services

PARTIAL = "usecases/partials/resource_tree.html"


def tree_context(deployment: UseCaseDeployment) -> dict[str, Any]:
    return {"deployment": deployment, "health": deployment_health_get(deployment=deployment) or {}}


def _render(request: PageRequest, deployment: UseCaseDeployment, error: str = "") -> HttpResponse:
    return render(request, PARTIAL, {**tree_context(deployment), "error": error})


@login_required
@require_GET
def deployment_resources(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    return _render(request, deployment)


@login_required
@require_POST
def deployment_resources_refresh(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    health_services.deployment_check_health(deployment=deployment)
    return _render(request, deployment)


@login_required
@require_POST
def component_resync(request: PageRequest, deployment_id: uuid.UUID, component: str) -> HttpResponse:
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    target = get_object_or_404(deployment.components, component_name=component)
    try:
        health_services.component_resync(component=target)
    except ConflictError as exc:
        return _render(request, deployment, str(exc))
    health_services.deployment_check_health(deployment=deployment)
    return _render(request, deployment)
