"""Portal pages of the usecases app: the template catalog, template detail and the template editor.

Views are thin: a selector to find what the user may see (404 otherwise), a service to change anything, and a
template. An htmx request (``request.htmx``) gets the partial that the full page includes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from budportal.errors import ConflictError, ForbiddenError, ServiceValidationError
from budportal.http import PageRequest
from clusterjobs.validators import validate_chart_ref
from pipelines.listing import list_page
from pipelines.params import RenderError
from pipelines.params import render as render_params
from usecases import component_catalog
from usecases.drafts import ComponentDraft, TemplateDraft, new_key, preview_context
from usecases.filters import TemplateFilter
from usecases.models import UseCaseTemplate
from usecases.selectors import templates as selectors
from usecases.services import templates as services
from usecases.template_graph import template_graph
from usecases.template_schema import COMPONENT_TYPES


def render_page(request: PageRequest, page: str, partial: str, context: dict[str, Any], status: int = 200):
    """The full page, or only its partial for an htmx request (the same fragment the page includes)."""
    # A history restore (back after the cache was evicted) asks for the URL with HX-Request too: it needs the
    # whole page, not the fragment.
    fragment = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(request, partial if fragment else page, context, status=status)
    # The same URL answers a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


TEMPLATE_SORTS = [("", "Name"), ("title", "Title"), ("-updated", "Recently changed"), ("-created", "Newest")]


# --- catalog and detail ----------------------------------------------------------------------------
@login_required
def template_list(request: PageRequest) -> HttpResponse:
    """The catalog, paged, filtered and sorted by the query string (the API's FilterSet)."""
    filters = {key: request.GET.get(key, "").strip() for key in ("q", "category", "tag", "source", "sort")}
    listing = list_page(TemplateFilter, request, selectors.template_visible_qs(user=request.user))
    everything = selectors.template_list(user=request.user)
    context = {
        "templates": listing.page.items,
        "listing": listing,
        "sorts": TEMPLATE_SORTS,
        "filters": filters,
        "categories": sorted({t.category for t in everything if t.category}),
        "tags": sorted({tag for t in everything for tag in t.tags}),
    }
    return render_page(request, "usecases/template_list.html", "usecases/partials/template_grid.html", context)


def _component_view(component: dict[str, Any]) -> dict[str, Any]:
    """A template component as the detail page shows it: helm charts as given; catalog components with the
    chart and default values of their default catalog entry."""
    if component["type"] == "helm":
        return {
            **component,
            "chart_ref": component["chart"]["ref"],
            "chart_version": component["chart"].get("version"),
            "default_values": component["chart"].get("values") or {},
            "catalog": None,
        }
    entry = component_catalog.resolve_component(component.get("default_component") or "") or {}
    chart = entry.get("chart") or {}
    values = component_catalog.deep_merge(chart.get("values") or {}, component.get("values") or {})
    return {
        **component,
        "chart_ref": chart.get("ref"),
        "chart_version": chart.get("version"),
        "default_values": values,
        "catalog": entry or None,
    }


@login_required
def template_detail(request: PageRequest, name: str) -> HttpResponse:
    template = selectors.template_get(user=request.user, name=name)
    context = {
        "template": template,
        "components": [_component_view(c) for c in template.components],
        "graph": template_graph(template),
        "can_edit": _can_edit(request, template),
    }
    return render(request, "usecases/template_detail.html", context)


def _can_edit(request: PageRequest, template: UseCaseTemplate) -> bool:
    return not template.is_system and (request.user.is_staff or template.owner_id == request.user.pk)


# --- editor ----------------------------------------------------------------------------------------
def _editor(request: PageRequest, draft: TemplateDraft, template: UseCaseTemplate | None, status: int = 200):
    context = {"draft": draft, "template": template, **_editor_choices()}
    return render(request, "usecases/template_editor.html", context, status=status)


def _editor_choices() -> dict[str, Any]:
    return {
        "component_types": COMPONENT_TYPES,
        "catalog_by_type": {t: component_catalog.components_of_type(t) for t in COMPONENT_TYPES if t != "helm"},
        "visibilities": UseCaseTemplate.Visibility.choices,
    }


def _save(request: PageRequest, draft: TemplateDraft, template: UseCaseTemplate | None) -> HttpResponse:
    """Save through the same services as the API; errors go back onto the fields."""
    try:
        document = draft.to_document()
        if template is None:
            template = services.template_create(owner=request.user, document=document, visibility=draft.visibility)
        else:
            template = services.template_update(template=template, document=document, visibility=draft.visibility)
    except ServiceValidationError as exc:
        draft.attach_errors(exc.errors)
        return _editor(request, draft, template, status=422)
    except ConflictError as exc:
        draft.errors.setdefault("name", []).append(str(exc))
        return _editor(request, draft, template, status=409)
    messages.success(request, f"Template {template.name} saved as version {template.version}.")
    return redirect("usecases:template-detail", name=template.name)


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: PageRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, TemplateDraft.from_post(request.POST), None)
    source = request.GET.get("from")
    if source:
        # "Start from": a copy of a visible template under a new name.
        draft = TemplateDraft.from_template(selectors.template_get(user=request.user, name=source))
        draft.fields.update(name=f"{source.removeprefix('system-')}-copy", visibility="private")
    else:
        draft = TemplateDraft.empty()
    return _editor(request, draft, None)


def _template_for_edit(request: PageRequest, name: str) -> UseCaseTemplate:
    template = selectors.template_get_for_edit(user=request.user, name=name)
    if template.is_system:
        raise PermissionDenied(f"'{name}' is a system template from the catalog and is read-only")
    return template


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: PageRequest, name: str) -> HttpResponse:
    template = _template_for_edit(request, name)
    if request.method == "POST":
        return _save(request, TemplateDraft.from_post(request.POST), template)
    return _editor(request, TemplateDraft.from_template(template), template)


@login_required
@require_POST
def template_delete(request: PageRequest, name: str) -> HttpResponse:
    template = selectors.template_get_for_edit(user=request.user, name=name)
    try:
        services.template_delete(template=template)
    except ForbiddenError as exc:
        raise PermissionDenied(str(exc)) from None
    except ConflictError as exc:
        return render(
            request,
            "usecases/template_detail.html",
            {
                "template": template,
                "components": [_component_view(c) for c in template.components],
                "graph": template_graph(template),
                "can_edit": True,
                "error": str(exc),
            },
            status=409,
        )
    return redirect("usecases:template-list")


@login_required
@require_http_methods(["GET", "POST"])
def editor_component(request: PageRequest) -> HttpResponse:
    """A component row: GET adds a fresh one; POST re-renders a row from its fields (after a type change)."""
    if request.method == "POST":
        component = ComponentDraft.from_post(request.POST, request.POST.get("key", ""))
    else:
        component = ComponentDraft(key=new_key(), type=request.GET.get("type") or "helm")
    return render(request, "usecases/partials/component_row.html", {"c": component, **_editor_choices()})


@login_required
@require_POST
def editor_chart_ref(request: PageRequest) -> HttpResponse:
    """Inline check of one chart ref while typing, with the validator the API and the jobs use."""
    key = request.POST.get("key", "")
    ref = request.POST.get(f"c-{key}-chart_ref", "").strip()
    error = validate_chart_ref(ref)
    context = {"key": key, "ref": ref, "error": error}
    return render(request, "usecases/partials/chart_ref_status.html", context)


def _values_problems(draft: TemplateDraft, index: int) -> list[str]:
    """What the template's validation (Save, the API) says about this component's values."""
    try:
        services.template_validate(document=draft.to_document())
    except ServiceValidationError as exc:
        return [
            e["msg"]
            for e in exc.errors
            if e["loc"][:2] == ["components", index]
            and (e["loc"][2:3] == ["values"] or e["loc"][2:4] == ["chart", "values"])
        ]
    return []


@login_required
@require_POST
def editor_preview(request: PageRequest) -> HttpResponse:
    """The values of one component with parameter defaults filled in and step outputs as placeholders."""
    draft = TemplateDraft.from_post(request.POST)
    key = request.POST.get("key", "")
    index = next((i for i, c in enumerate(draft.components) if c.key == key), None)
    context: dict[str, Any] = {"key": key, "resolved": None, "error": None}
    if index is None:
        context["error"] = "Fill in the component first."
    else:
        try:
            values = draft.components[index].values_data(index)
            context["resolved"] = render_params(values, preview_context(draft))
        except ServiceValidationError as exc:
            context["error"] = " ".join(e["msg"] for e in exc.errors)
        except RenderError as exc:
            # The sentence Save would show for these values, not the renderer's internal error.
            context["error"] = " ".join(_values_problems(draft, index)) or str(exc)
    return render(request, "usecases/partials/values_preview.html", context)
