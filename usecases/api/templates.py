"""Template endpoints. Bodies are template documents as JSON or YAML (``Content-Type: application/yaml``)."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from ninja.pagination import paginate

from budportal.errors import ForbiddenError, ServiceValidationError
from budportal.http import ApiRequest
from pipelines.listing import PagePagination, filter_openapi, filter_queryset
from usecases.filters import TemplateFilter
from usecases.models import UseCaseTemplate
from usecases.schemas.templates import (
    TemplateOut,
    TemplateSyncOut,
    TemplateValidationOut,
    template_document_openapi,
)
from usecases.selectors import templates as selectors
from usecases.services import templates as services
from usecases.template_schema import load_json, load_yaml

router = Router(tags=["templates"])
_DOCUMENT_BODY = template_document_openapi()


def _document(request: ApiRequest) -> tuple[Any, str | None]:
    """The posted document and the ``visibility`` key beside it (not part of the template itself)."""
    is_yaml = "yaml" in (request.content_type or "")
    data = load_yaml(request.body, ("body",)) if is_yaml else load_json(request.body, ("body",))
    if isinstance(data, dict) and "visibility" in data:
        data = dict(data)
        visibility = data.pop("visibility")
        if not isinstance(visibility, str):
            raise ServiceValidationError.at(["visibility"], "must be 'private' or 'public'")
        return data, visibility
    return data, None


@router.get("", response=list[TemplateOut], summary="List templates", openapi_extra=filter_openapi(TemplateFilter))
@paginate(PagePagination)
def template_list(request: ApiRequest):
    """System and public templates and your own (staff: all), ``{items, total, page, page_size}``. ``q``
    searches name, title and description; ``category``, ``tag``, ``source`` filter; ``sort`` orders."""
    return filter_queryset(TemplateFilter, request.GET, selectors.template_visible_qs(user=request.auth))


@router.post("", response={201: TemplateOut}, summary="Create a template", openapi_extra=_DOCUMENT_BODY)
def template_create(request: ApiRequest):
    document, visibility = _document(request)
    template = services.template_create(
        owner=request.auth, document=document, visibility=visibility or UseCaseTemplate.Visibility.PRIVATE
    )
    return Status(201, template)


@router.post(
    "/validate",
    response=TemplateValidationOut,
    summary="Validate a template without saving it",
    openapi_extra=_DOCUMENT_BODY,
)
def template_validate(request: ApiRequest):
    try:
        document, _ = _document(request)
        validated = services.template_validate(document=document)
    except ServiceValidationError as exc:
        return {"valid": False, "errors": exc.errors}
    return {"valid": True, "errors": [], "waves": validated.waves}


@router.post("/sync", response=TemplateSyncOut, summary="Load the template catalog (staff)")
def template_sync(request: ApiRequest):
    """As ``manage.py sync_templates --prune``: system templates whose catalog file is gone are deleted
    unless deployments use them (those are ``skipped``, as are unchanged and refused files)."""
    if not request.auth.is_staff:
        raise ForbiddenError("only staff may load the template catalog")
    report = services.template_sync(prune=True)
    return {
        "created": report.created,
        "updated": report.updated,
        "deleted": report.deleted,
        "skipped": report.skipped,
        "errors": report.errors,
    }


# By id (``/api/templates/42``) first: an all-digit path is an id, never a name (such names are refused).
@router.get("/{int:template_id}", response=TemplateOut, summary="Get a template by id")
def template_detail_by_id(request: ApiRequest, template_id: int):
    return selectors.template_get_by_id(user=request.auth, template_id=template_id)


@router.put(
    "/{int:template_id}", response=TemplateOut, summary="Replace a template by id", openapi_extra=_DOCUMENT_BODY
)
def template_update_by_id(request: ApiRequest, template_id: int):
    template = selectors.template_get_for_edit_by_id(user=request.auth, template_id=template_id)
    document, visibility = _document(request)
    return services.template_update(template=template, document=document, visibility=visibility)


@router.patch("/{int:template_id}", response=TemplateOut, summary="Change some fields of a template by id")
def template_patch_by_id(request: ApiRequest, template_id: int):
    template = selectors.template_get_for_edit_by_id(user=request.auth, template_id=template_id)
    changes, visibility = _document(request)
    return services.template_patch(template=template, changes=changes, visibility=visibility)


@router.delete("/{int:template_id}", response={204: None}, summary="Delete a template by id")
def template_delete_by_id(request: ApiRequest, template_id: int):
    template = selectors.template_get_for_edit_by_id(user=request.auth, template_id=template_id)
    services.template_delete(template=template)
    return Status(204, None)


# By name: your own template of that name, else the system one, else the one public template of that name.
@router.get("/{name}", response=TemplateOut, summary="Get a template")
def template_detail(request: ApiRequest, name: str):
    return selectors.template_get(user=request.auth, name=name)


@router.put("/{name}", response=TemplateOut, summary="Replace a template", openapi_extra=_DOCUMENT_BODY)
def template_update(request: ApiRequest, name: str):
    template = selectors.template_get_for_edit(user=request.auth, name=name)
    document, visibility = _document(request)
    return services.template_update(template=template, document=document, visibility=visibility)


@router.patch("/{name}", response=TemplateOut, summary="Change some fields of a template")
def template_patch(request: ApiRequest, name: str):
    """Top-level fields given replace the stored ones (``components`` is replaced as a whole); the result
    is validated as a created template is. ``visibility`` may be given as well."""
    template = selectors.template_get_for_edit(user=request.auth, name=name)
    changes, visibility = _document(request)
    return services.template_patch(template=template, changes=changes, visibility=visibility)


@router.delete("/{name}", response={204: None}, summary="Delete a template")
def template_delete(request: ApiRequest, name: str):
    template = selectors.template_get_for_edit(user=request.auth, name=name)
    services.template_delete(template=template)
    return Status(204, None)
