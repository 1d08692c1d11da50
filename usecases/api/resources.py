"""A deployment's resource tree and health: the last recorded check, a check now, and Resync of a component."""

from __future__ import annotations

import uuid

from django.shortcuts import get_object_or_404
from ninja import Router

from budportal.http import ApiRequest
from usecases.schemas.resources import ResourcesOut, ResyncOut
from usecases.selectors import deployments as selectors
from usecases.selectors.resources import deployment_health_get
from usecases.services import health as services

router = Router(tags=["deployments"])


def _out(deployment, row) -> dict:
    if row is None:
        return {
            "deployment_id": deployment.pk,
            "health": "Unknown",
            "sync": "Unknown",
            "reason": "not checked yet",
            "checked_at": None,
            "next_check_at": None,
            "components": [],
        }
    fields = ("health", "sync", "reason", "checked_at", "next_check_at", "components")
    return {"deployment_id": deployment.pk, **{f: getattr(row, f) for f in fields}}


@router.get("/{deployment_id}/resources", response=ResourcesOut, summary="Resource tree and health (last check)")
def deployment_resources(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    return _out(deployment, deployment_health_get(deployment=deployment))


@router.post("/{deployment_id}/resources/refresh", response=ResourcesOut, summary="Check health now")
def deployment_resources_refresh(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    return _out(deployment, services.deployment_check_health(deployment=deployment))


@router.post("/{deployment_id}/components/{component}/resync", response=ResyncOut, summary="Re-apply recorded values")
def component_resync(request: ApiRequest, deployment_id: uuid.UUID, component: str):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    target = get_object_or_404(deployment.components, component_name=component)
    job = services.component_resync(component=target)
    return {"job_id": job.pk, "component": target.component_name}
