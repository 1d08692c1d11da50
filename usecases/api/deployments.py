"""Deployment endpoints: create, read, plan, progress, and the lifecycle actions (start, stop, retry, sync,
delete). Each validates, calls one service, returns a schema; someone else's deployment is a 404."""

from __future__ import annotations

import uuid

from ninja import Router, Status
from ninja.pagination import paginate
from pydantic import ValidationError

from budportal.errors import ServiceValidationError
from budportal.http import ApiRequest
from pipelines.listing import PagePagination, filter_openapi, filter_queryset
from usecases.filters import DeploymentFilter
from usecases.models.deployments import UseCaseDeployment
from usecases.schemas.deployments import DeploymentIn, DeploymentOut, PlanOut, ProgressOut, deployment_in_openapi
from usecases.selectors import deployments as selectors
from usecases.services import deployments as services
from usecases.template_schema import load_json, pydantic_errors

router = Router(tags=["deployments"])


def _body(request: ApiRequest) -> DeploymentIn:
    data = load_json(request.body, ("body",))
    try:
        return DeploymentIn.model_validate(data)
    except ValidationError as exc:
        raise ServiceValidationError(pydantic_errors(exc)) from None


@router.get(
    "", response=list[DeploymentOut], summary="List deployments", openapi_extra=filter_openapi(DeploymentFilter)
)
@paginate(PagePagination)
def deployment_list(request: ApiRequest):
    """``{items, total, page, page_size}``; filter by ``status``, ``template``, ``cluster``, ``owner`` (staff),
    search with ``q``, order with ``sort`` (``created``, ``name``, ``status``, ``template``; ``-`` descending)."""
    return filter_queryset(DeploymentFilter, request.GET, selectors.deployment_list(user=request.auth))


@router.post("", response={201: DeploymentOut}, summary="Create a deployment", openapi_extra=deployment_in_openapi())
def deployment_create(request: ApiRequest):
    body = _body(request)
    deployment = services.deployment_create(owner=request.auth, **body.model_dump())
    return Status(201, selectors.deployment_get(user=request.auth, deployment_id=deployment.pk))


@router.get("/{deployment_id}", response=DeploymentOut, summary="Get a deployment")
def deployment_detail(request: ApiRequest, deployment_id: uuid.UUID):
    return selectors.deployment_get(user=request.auth, deployment_id=deployment_id)


@router.get("/{deployment_id}/progress", response=ProgressOut, summary="Deployment progress")
def deployment_progress(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    return services.deployment_progress(deployment=deployment)


@router.get("/{deployment_id}/plan", response=PlanOut, summary="What start would install")
def deployment_plan(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    return services.deployment_plan(deployment=deployment)


def _act(request: ApiRequest, deployment_id: uuid.UUID, action) -> UseCaseDeployment:
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    action(deployment=deployment)
    return selectors.deployment_get(user=request.auth, deployment_id=deployment_id)


@router.post("/{deployment_id}/start", response=DeploymentOut, summary="Start (409 unless pending)")
def deployment_start(request: ApiRequest, deployment_id: uuid.UUID):
    return _act(request, deployment_id, services.deployment_start)


@router.post(
    "/{deployment_id}/stop",
    response=DeploymentOut,
    summary="Stop: cancel, uninstall every release, remove the namespace",
)
def deployment_stop(request: ApiRequest, deployment_id: uuid.UUID):
    return _act(request, deployment_id, services.deployment_stop)


@router.post(
    "/{deployment_id}/retry", response=DeploymentOut, summary="Retry a failed deployment (running components are kept)"
)
def deployment_retry(request: ApiRequest, deployment_id: uuid.UUID):
    return _act(request, deployment_id, services.deployment_retry)


@router.post("/{deployment_id}/sync", response=DeploymentOut, summary="Poll job status (legacy)")
def deployment_sync(request: ApiRequest, deployment_id: uuid.UUID):
    return _act(request, deployment_id, services.deployment_sync)


@router.delete(
    "/{deployment_id}",
    response={202: DeploymentOut, 204: None},
    summary="Delete (uninstalls first when something is installed)",
)
def deployment_delete(request: ApiRequest, deployment_id: uuid.UUID):
    """204 when the deployment is gone; 202 with the deployment (status ``deleting``) while its releases are
    being uninstalled — the rows are removed when that finishes."""
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    if services.deployment_delete(deployment=deployment):
        return Status(204, None)
    return Status(202, selectors.deployment_get(user=request.auth, deployment_id=deployment_id))
