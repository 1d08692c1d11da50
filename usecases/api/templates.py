"""Template endpoints. Bodies are template documents as JSON or YAML (``Content-Type: application/yaml``)."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from ninja.pagination import paginate

from budportal.errors import ServiceValidationError
from budportal.http import ApiRequest
from pipelines.listing import PagePagination, filter_openapi, filter_queryset
from usecases.filters import TemplateFilter
from usecases.models import UseCaseTemplate
from usecases.schemas.templates import TemplateOut, TemplateValidationOut, template_document_openapi
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


@router.get("/{name}", response=TemplateOut, summary="Get a template")
def template_detail(request: ApiRequest, name: str):
    return selectors.template_get(user=request.auth, name=name)


@router.put("/{name}", response=TemplateOut, summary="Replace a template", openapi_extra=_DOCUMENT_BODY)
def template_update(request: ApiRequest, name: str):
    template = selectors.template_get_for_edit(user=request.auth, name=name)
    document, visibility = _document(request)
    return services.template_update(template=template, document=document, visibility=visibility)


@router.delete("/{name}", response={204: None}, summary="Delete a template")
def template_delete(request: ApiRequest, name: str):
    template = selectors.template_get_for_edit(user=request.auth, name=name)
    services.template_delete(template=template)
    return Status(204, None)
