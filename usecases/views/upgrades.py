"""Day 2 pages: edit a deployment (a draft revision), review the plan of a revision (DAG, values diffs,
rendered-manifest diffs), apply it or roll back to it. Writes go through ``usecases.services.upgrades``, the
API's services; reads through the selectors, so someone else's deployment is a 404 here as in the API."""

from __future__ import annotations

import uuid
from typing import Any

import yaml
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budportal.errors import ConflictError, ServiceValidationError
from budportal.http import PageRequest
from clusterjobs.crypto import mask_tree
from usecases import component_catalog
from usecases.dag import deployment_inputs, template_from_snapshot
from usecases.models.deployments import UseCaseDeployment
from usecases.selectors import deployments as selectors
from usecases.services import revisions, upgrades


def _inputs(deployment: UseCaseDeployment):
    draft = upgrades.draft_of(deployment)
    return revisions.revision_inputs(draft) if draft else deployment_inputs(deployment)


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False) if value else ""


def _form(deployment: UseCaseDeployment, post: Any = None) -> dict[str, Any]:
    """What the edit form shows: each parameter, each component's choice and its value overrides as YAML."""
    inputs = _inputs(deployment)
    template = template_from_snapshot(inputs.template_snapshot)
    params = [
        {"name": name, "spec": spec, "value": post.get(f"param-{name}") if post else inputs.parameters.get(name, "")}
        for name, spec in (template.parameters or {}).items()
    ]
    slots = []
    for name, choice in inputs.selections.items():
        component = template.component(name) or {}
        names = component.get("compatible_components") or []
        slots.append(
            {
                "name": name,
                "type": component.get("type", ""),
                "chosen": post.get(f"component-{name}", choice) if post else choice,
                "choices": [component_catalog.resolve_component(n) or {"name": n, "display_name": n} for n in names],
                "values": post.get(f"values-{name}", "")
                if post
                else _dump(mask_tree(inputs.value_overrides.get(name))),
                "secrets": post.get(f"secrets-{name}", "") if post else "",
            }
        )
    return {"parameters": params, "slots": slots}


def _typed(spec: dict[str, Any], raw: str) -> Any:
    """A form string as the parameter's type; a string that does not parse is passed on for the 422."""
    kind = spec.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean":
        return raw in ("on", "true", "1")
    return raw


def _parse(deployment: UseCaseDeployment, post: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    inputs = _inputs(deployment)
    template = template_from_snapshot(inputs.template_snapshot)
    errors: dict[str, list[str]] = {}
    parameters = {
        name: _typed(spec, post.get(f"param-{name}", ""))
        for name, spec in (template.parameters or {}).items()
        if f"param-{name}" in post
    }
    values: dict[str, Any] = {}
    components: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for name, choice in inputs.selections.items():
        if choice and post.get(f"component-{name}") and post[f"component-{name}"] != choice:
            components[name] = post[f"component-{name}"]
        try:
            values[name] = yaml.safe_load(post.get(f"values-{name}", "")) or None
        except yaml.YAMLError as exc:
            errors[f"values-{name}"] = [f"not valid YAML: {exc.__class__.__name__}"]
        try:
            secret = yaml.safe_load(post.get(f"secrets-{name}", "")) or None
        except yaml.YAMLError as exc:  # the message would quote the secret: only its kind is shown
            errors[f"secrets-{name}"] = [f"not valid YAML: {exc.__class__.__name__}"]
            continue
        if secret is not None:
            secrets[name] = secret
    change = {"parameters": parameters, "components": components, "values": values, "secret_values": secrets}
    return change, errors


def _field(loc: list[Any]) -> str:
    if len(loc) >= 2 and loc[0] in ("values", "secret_values"):
        return f"{'values' if loc[0] == 'values' else 'secrets'}-{loc[1]}"
    if len(loc) >= 2 and loc[0] in ("parameters", "components"):
        return f"{'param' if loc[0] == 'parameters' else 'component'}-{loc[1]}"
    return "general"


def _edit_page(request: PageRequest, deployment: UseCaseDeployment, errors: dict, status: int = 200) -> HttpResponse:
    post = request.POST.copy() if errors else None
    if post is not None:
        for key in [k for k in post if k.startswith("secrets-")]:
            post[key] = ""  # a rejected form never echoes a secret back
    context = {"deployment": deployment, "errors": errors, **_form(deployment, post)}
    return render(request, "usecases/deployment_edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def deployment_edit(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    """Edit parameters, component choices and value overrides; saving makes the draft, then its plan."""
    deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    if request.method == "GET":
        return _edit_page(request, deployment, {})
    change, errors = _parse(deployment, request.POST)
    if errors:
        return _edit_page(request, deployment, errors, status=422)
    try:
        draft = upgrades.deployment_update(deployment=deployment, user=request.user, **change)
    except ServiceValidationError as exc:
        for error in exc.errors:
            errors.setdefault(_field(list(error["loc"])), []).append(str(error["msg"]))
        return _edit_page(request, deployment, errors, status=422)
    except ConflictError as exc:
        return _edit_page(request, deployment, {"general": [str(exc)]}, status=409)
    if draft is None:
        return redirect("usecases:deployment-detail", deployment_id=deployment.pk)
    return redirect(reverse("usecases:deployment-change-plan", args=[deployment.pk]) + "?revision=draft")


@login_required
@require_GET
def deployment_change_plan(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    """The plan of the draft or of a recorded revision (a rollback): what runs, what is skipped, the diffs."""
    deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    wanted = request.GET.get("revision", "draft")
    context: dict[str, Any] = {"deployment": deployment, "wanted": wanted}
    try:
        plan = upgrades.deployment_change_plan(deployment=deployment, revision=wanted)
    except ServiceValidationError as exc:
        context["error"] = str(exc)
        return render(request, "usecases/deployment_change_plan.html", context, status=422)
    except Http404:
        messages.info(request, "There is no draft to review: edit the deployment first.")
        return redirect("usecases:deployment-detail", deployment_id=deployment.pk)
    context["plan"] = plan
    context["is_draft"] = wanted == "draft"
    return render(request, "usecases/deployment_change_plan.html", context)


@login_required
@require_POST
def deployment_apply(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    """Apply the reviewed draft, or roll back to the reviewed revision."""
    deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    try:
        number = int(request.POST.get("revision", ""))
    except ValueError:
        return HttpResponse("revision must be a number", status=422)
    try:
        if request.POST.get("rollback"):
            upgrades.deployment_rollback(deployment=deployment, revision=number, user=request.user)
        else:
            upgrades.deployment_apply(deployment=deployment, revision=number, user=request.user)
    except (ConflictError, ServiceValidationError) as exc:
        messages.error(request, str(exc))
    return redirect("usecases:deployment-detail", deployment_id=deployment.pk)


@login_required
@require_POST
def deployment_discard(request: PageRequest, deployment_id: uuid.UUID) -> HttpResponse:
    deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    upgrades.deployment_discard_draft(deployment=deployment)
    messages.info(request, "The draft was discarded.")
    return redirect("usecases:deployment-detail", deployment_id=deployment.pk)


def history_context(deployment: UseCaseDeployment) -> dict[str, Any]:
    """For the deployment page's history table and Edit link (partials of their own)."""
    return {
        "revisions": list(deployment.revisions.select_related("created_by").order_by("-number")[:50]),
        "draft": upgrades.draft_of(deployment),
        "can_apply": deployment.status in upgrades.APPLICABLE_FROM,
    }
