"""Deployment endpoints: create, read, plan, progress, and the lifecycle actions (start, stop, retry, sync,
delete). Each validates, calls one service, returns a schema; someone else's deployment is a 404."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from ninja import Router, Status
from ninja.pagination import paginate
from pydantic import BaseModel, ValidationError

from budportal.errors import ServiceValidationError
from budportal.http import ApiRequest
from pipelines.listing import PagePagination, filter_openapi, filter_queryset
from usecases.filters import DeploymentFilter
from usecases.models.deployments import UseCaseDeployment
from usecases.schemas.deployments import (
    ApplyIn,
    ChangePlanOut,
    DeploymentIn,
    DeploymentOut,
    DeploymentUpdateIn,
    PlanOut,
    ProgressOut,
    RevisionDetailOut,
    RevisionOut,
    RollbackIn,
    deployment_in_openapi,
)
from usecases.selectors import deployments as selectors
from usecases.services import deployments as services
from usecases.services import gateway, upgrades
from usecases.template_schema import load_json, pydantic_errors

router = Router(tags=["deployments"])
BodyT = TypeVar("BodyT", bound=BaseModel)


def _parse(request: ApiRequest, model: type[BodyT], *, aliases: Callable[[Any], Any] = lambda data: data) -> BodyT:
    data = aliases(load_json(request.body or b"{}", ("body",)))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceValidationError(pydantic_errors(exc)) from None


def _template_alias(data: Any) -> Any:
    """Accept BudUseCases' ``template_name`` for ``template`` (both given must agree)."""
    if not isinstance(data, dict) or "template_name" not in data:
        return data
    data = dict(data)
    alias = data.pop("template_name")
    if "template" in data and data["template"] != alias:
        raise ServiceValidationError.at(["template_name"], "differs from 'template'; give one of them")
    data["template"] = alias
    return data


def _body(request: ApiRequest) -> DeploymentIn:
    return _parse(request, DeploymentIn, aliases=_template_alias)


def _openapi(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


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
    fields = body.model_dump() | {"helm": {k: v.model_dump(exclude_unset=True) for k, v in body.helm.items()}}
    deployment = services.deployment_create(owner=request.auth, **fields)
    return Status(201, selectors.deployment_get(user=request.auth, deployment_id=deployment.pk))


@router.get("/{deployment_id}", response=DeploymentOut, summary="Get a deployment")
def deployment_detail(request: ApiRequest, deployment_id: uuid.UUID):
    return selectors.deployment_detail_get(user=request.auth, deployment_id=deployment_id)


@router.get("/{deployment_id}/progress", response=ProgressOut, summary="Deployment progress")
def deployment_progress(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    return services.deployment_progress(deployment=deployment)


@router.get(
    "/{deployment_id}/plan", response=PlanOut | ChangePlanOut, summary="What start (or applying a revision) would do"
)
def deployment_plan(request: ApiRequest, deployment_id: uuid.UUID, revision: str | None = None):
    """Without ``revision``: what start installs. ``revision=draft`` (or a revision number): what applying it
    would do now — components upgraded or skipped, the DAG, values diffs and rendered-manifest diffs."""
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    if revision is None:
        return services.deployment_plan(deployment=deployment)
    return upgrades.deployment_change_plan(deployment=deployment, revision=revision)


@router.patch(
    "/{deployment_id}",
    response={200: RevisionOut, 204: None},
    summary="Change parameters, components or value overrides (a draft revision)",
    openapi_extra=_openapi(DeploymentUpdateIn),
)
def deployment_update(request: ApiRequest, deployment_id: uuid.UUID):
    """The draft revision to review (``…/plan?revision=draft``) and apply; 204 for a pending deployment,
    which takes the change at once. 422 names each wrong field before anything runs."""
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    body = _parse(request, DeploymentUpdateIn)
    draft = upgrades.deployment_update(deployment=deployment, user=request.auth, **body.model_dump())
    return draft if draft is not None else Status(204, None)


@router.get("/{deployment_id}/revisions", response=list[RevisionOut], summary="Revision history, newest first")
def revision_list(request: ApiRequest, deployment_id: uuid.UUID):
    return selectors.revision_list(user=request.auth, deployment_id=deployment_id)


@router.get("/{deployment_id}/revisions/{number}", response=RevisionDetailOut, summary="One revision")
def revision_detail(request: ApiRequest, deployment_id: uuid.UUID, number: int):
    return selectors.revision_get(user=request.auth, deployment_id=deployment_id, number=number)


@router.post(
    "/{deployment_id}/apply",
    response=RevisionOut,
    summary="Apply the draft (or a revision) as a new revision; 409 while another apply runs",
    openapi_extra=_openapi(ApplyIn),
)
def deployment_apply(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    body = _parse(request, ApplyIn)
    return upgrades.deployment_apply(deployment=deployment, user=request.auth, **body.model_dump())


@router.post(
    "/{deployment_id}/rollback",
    response=RevisionOut,
    summary="Apply an earlier revision's inputs again, as a new revision",
    openapi_extra=_openapi(RollbackIn),
)
def deployment_rollback(request: ApiRequest, deployment_id: uuid.UUID):
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    body = _parse(request, RollbackIn)
    return upgrades.deployment_rollback(deployment=deployment, revision=body.revision, user=request.auth)


def _act(request: ApiRequest, deployment_id: uuid.UUID, action) -> UseCaseDeployment:
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    action(deployment=deployment)
    return selectors.deployment_detail_get(user=request.auth, deployment_id=deployment_id)


@router.post("/{deployment_id}/start", response=DeploymentOut, summary="Start (409 unless pending or stopped)")
def deployment_start(request: ApiRequest, deployment_id: uuid.UUID):
    """A pending deployment's first install; a stopped one again, as a new revision from its last inputs."""
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    upgrades.deployment_start_any(deployment=deployment, user=request.auth)
    return selectors.deployment_detail_get(user=request.auth, deployment_id=deployment_id)


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
    """With a draft (values edited after the failure) the draft is applied; else the failed run resumes."""
    deployment = selectors.deployment_get(user=request.auth, deployment_id=deployment_id)
    upgrades.deployment_repair(deployment=deployment, user=request.auth)
    return selectors.deployment_detail_get(user=request.auth, deployment_id=deployment_id)


@router.post(
    "/{deployment_id}/retry-gateway",
    response=DeploymentOut,
    summary="Re-create the access URLs (Ingress / HTTPRoute) of a running deployment",
)
def deployment_retry_gateway(request: ApiRequest, deployment_id: uuid.UUID):
    return _act(request, deployment_id, gateway.deployment_retry_gateway)


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
