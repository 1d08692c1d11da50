"""Portal pages for deployments: the list with live badges, the deploy wizard (choose, see the plan, start)
and the live deployment page with Stop / Retry / Delete.

All writes go through ``usecases.services.deployments`` (the API's services); reads through
``usecases.selectors.deployments``, so someone else's deployment is a 404 here as in the API.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budportal.errors import ConflictError, ServiceValidationError
from budportal.http import PageRequest
from clusterjobs.selectors import cluster_by_health, cluster_list
from pipelines.listing import list_page
from usecases import component_catalog, sse_render
from usecases.drafts import LEAVE_OUT, WizardRequest
from usecases.filters import DeploymentFilter
from usecases.models import UseCaseTemplate
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment
from usecases.selectors import deployments as deployment_selectors
from usecases.selectors import templates as selectors
from usecases.selectors.resources import deployment_health_get
from usecases.services import deployments as deployment_services
from usecases.services import upgrades
from usecases.template_graph import template_graph
from usecases.views import upgrades as upgrade_views
from usecases.views.templates import render_page

DEPLOYMENT_SORTS = [
    ("", "Newest first"),
    ("created", "Oldest first"),
    ("name", "Name A–Z"),
    ("-name", "Name Z–A"),
    ("status", "Status"),
    ("template", "Template"),
]

ACTIONS = {
    "start": deployment_services.deployment_start,  # a stopped deployment: see deployment_action
    "stop": deployment_services.deployment_stop,
    "retry": deployment_services.deployment_retry,
}


# --- list ------------------------------------------------------------------------------------------
@login_required
@require_GET
def deployment_list(request: PageRequest) -> HttpResponse:
    """The user's deployments, paged, filtered, searched and sorted by the query string (the API's FilterSet),
    so a filtered list survives reload and back; the rows re-poll while one of them is moving."""
    mine = deployment_selectors.deployment_list(user=request.user)
    listing = list_page(DeploymentFilter, request, mine)
    deployments = listing.page.items
    context = {
        "listing": listing,
        "deployments": deployments,
        "any_active": any(d.status in sse_render.ACTIVE for d in deployments),
        "filters": listing.filterset.form.data,
        "statuses": DeploymentStatus.choices,
        "template_names": deployment_selectors.deployment_template_names(user=request.user),
        "clusters": cluster_list(user=request.user),
        "owners": deployment_selectors.deployment_owner_names(user=request.user) if request.user.is_staff else [],
        "sorts": DEPLOYMENT_SORTS,
    }
    return render_page(request, "usecases/deployment_list.html", "usecases/partials/deployment_rows.html", context)


# --- wizard ----------------------------------------------------------------------------------------
def _slots(template: UseCaseTemplate, wizard: WizardRequest | None) -> list[dict[str, Any]]:
    """Each template component with the catalog entries it may install and the current choice."""
    slots = []
    for component in template.components:
        names = component.get("compatible_components") or [c for c in [component.get("default_component")] if c]
        chosen = (wizard.components.get(component["name"], "") if wizard else "") or component.get("default_component")
        if wizard and component["name"] in wizard.components and wizard.components[component["name"]] is None:
            chosen = LEAVE_OUT
        slots.append(
            {
                **component,
                "choices": [_choice(n) for n in names],
                "chosen": chosen,
            }
        )
    return slots


def _choice(name: str) -> dict[str, Any]:
    entry = component_catalog.resolve_component(name) or {"name": name, "display_name": name}
    return {**entry, "installs_instead": component_catalog.installs_instead(entry)}


def _parameters(template: UseCaseTemplate, wizard: WizardRequest | None) -> list[dict[str, Any]]:
    params = []
    for name, spec in (template.parameters or {}).items():
        if wizard is None:
            value = spec.get("default")
        elif spec["type"] == "boolean":
            value = wizard.parameters.get(name, False)
        else:
            value = wizard.raw.get(name, "")
        params.append({"name": name, "spec": spec, "value": "" if value is None else value})
    return params


def _wizard(
    request: PageRequest, template: UseCaseTemplate | None, wizard: WizardRequest | None, status: int = 200
) -> HttpResponse:
    clusters = cluster_by_health(clusters=list(cluster_list(user=request.user)))
    alive = [c for c in clusters if getattr(c, "last_healthy", None) is not False]
    default = next((c for c in alive if c.is_sandbox), alive[0] if alive else (clusters[0] if clusters else None))
    context = {
        "templates": selectors.template_list(user=request.user),
        "template": template,
        "wizard": wizard,
        "errors": wizard.errors if wizard else {},
        "clusters": clusters,
        "chosen_cluster": (wizard.cluster_id if wizard else "") or (str(default.pk) if default else ""),
        "slots": _slots(template, wizard) if template else [],
        "parameters": _parameters(template, wizard) if template else [],
        "graph": template_graph(template) if template else None,
        "leave_out": LEAVE_OUT,
        "suggested_name": wizard.name
        if wizard
        else (f"{template.name.removeprefix('system-')}"[:30] if template else ""),
    }
    return render_page(
        request,
        "usecases/deployment_wizard.html",
        "usecases/partials/deployment_wizard_form.html",
        context,
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_create(request: PageRequest) -> HttpResponse:
    """Step 1: template, cluster, components, parameters → a pending deployment (its plan is step 2)."""
    name = (request.POST if request.method == "POST" else request.GET).get("template", "")
    template = selectors.template_get(user=request.user, name=name) if name else None
    if request.method == "GET" or template is None:
        return _wizard(request, template, None)
    wizard = WizardRequest.from_post(template, request.POST)
    if wizard.errors:
        return _wizard(request, template, wizard, status=422)
    try:
        deployment = deployment_services.deployment_create(
            owner=request.user,
            name=wizard.name,
            template=template.name,
            cluster_id=wizard.cluster_id or None,
            components=wizard.components,
            parameters=wizard.parameters,
        )
    except ServiceValidationError as exc:
        wizard.attach_errors(exc.errors)
        return _wizard(request, template, wizard, status=422)
    return redirect("usecases:deployment-detail", deployment_id=deployment.pk)


# --- the deployment page ---------------------------------------------------------------------------
def _detail_context(request: PageRequest, deployment: UseCaseDeployment) -> dict[str, Any]:
    context = sse_render.state_context(deployment)
    log, last_event_id = sse_render.log_history(user=request.user, deployment=deployment)
    context.update(
        log=log,
        last_event_id=last_event_id,
        resource_health=deployment_health_get(deployment=deployment),
        **upgrade_views.history_context(deployment),
    )
    if deployment.status == DeploymentStatus.PENDING:
        context["plan"] = _plan(deployment)
    return context


def _plan(deployment: UseCaseDeployment) -> dict[str, Any] | None:
    try:
        plan = deployment_services.deployment_plan(deployment=deployment)
    except (ServiceValidationError, ConflictError) as exc:
        return {"error": str(exc)}
    by_name = {c["name"]: c for c in plan["components"]}
    plan["wave_plans"] = [[by_name[n] for n in wave if n in by_name] for wave in plan["waves"]]
    return plan


@login_required
@require_GET
def deployment_detail(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    return render(request, "usecases/deployment_detail.html", _detail_context(request, deployment))


@login_required
@require_GET
def deployment_state(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    """The live part of the page alone (what the SSE stream pushes as ``state``)."""
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    return render(request, "usecases/partials/deployment_state.html", sse_render.state_context(deployment))


@login_required
@require_POST
def deployment_action(request: PageRequest, deployment_id: uuid.UUID, action: str) -> HttpResponse:
    """Start, Stop or Retry through the same service as the API; a wrong state is shown, not raised."""
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    service = ACTIONS.get(action)
    if service is None:
        return HttpResponse("Unknown action", status=404)
    try:
        if action == "start" and deployment.status == DeploymentStatus.STOPPED:
            upgrades.deployment_start_any(deployment=deployment, user=request.user)
        elif action == "retry":
            upgrades.deployment_repair(deployment=deployment, user=request.user)
        else:
            service(deployment=deployment)
    except (ConflictError, ServiceValidationError) as exc:
        messages.error(request, str(exc))
    return _to_page(request, reverse("usecases:deployment-detail", args=[deployment.pk]))


@login_required
@require_POST
def deployment_delete(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    deployment = deployment_selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    try:
        gone = deployment_services.deployment_delete(deployment=deployment)
    except ConflictError as exc:
        messages.error(request, str(exc))
        return _to_page(request, reverse("usecases:deployment-detail", args=[deployment.pk]))
    if gone:
        messages.success(request, f"Deployment {deployment.name} deleted.")
        return _to_page(request, reverse("usecases:deployment-list"))
    messages.info(request, f"Deployment {deployment.name} is being uninstalled; it disappears when that is done.")
    return _to_page(request, reverse("usecases:deployment-detail", args=[deployment.pk]))


def _to_page(request: PageRequest, url: str) -> HttpResponse:
    """After an action: a full page load (htmx: ``HX-Redirect``), so the stream reconnects from the new state."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
