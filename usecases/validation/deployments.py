"""What ``POST /api/deployments`` must satisfy: a visible template, the owner's cluster, a choice for every
required slot among its compatible components, known parameters of the right type and range, and no
reference to a component that is left out. Every problem is collected with its ``loc`` (``["components",
"llm"]``, ``["parameters", "chunk_size"]``) and raised together as one ServiceValidationError (→ 422).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from budportal.errors import ServiceValidationError
from clusterjobs.models import Cluster
from clusterjobs.selectors import cluster_list
from clusterjobs.validators import find_blocked_values
from pipelines.actions.http import check_url
from pipelines.params import depth_errors
from usecases.dag import effective_chart, referenced_steps
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment
from usecases.selectors.templates import template_visible_qs
from usecases.validation.templates import parameter_value_problem

Errors = list[dict[str, Any]]
# Release names are "<deployment>-<component>" within Helm's 53 characters, so deployment names stay short.
DEPLOYMENT_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,38}[a-z0-9])?$")
MISSING = object()


@dataclass
class CleanRequest:
    template: UseCaseTemplate
    cluster: Cluster
    selections: dict[str, str]  # included component → catalog choice ("" for helm)
    parameters: dict[str, Any]
    errors: Errors = field(default_factory=list)


def _err(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg}


def name_errors(owner, name: str) -> Errors:
    if not DEPLOYMENT_NAME.match(name or ""):
        return [_err(["name"], "must be a lowercase DNS label: a-z, 0-9 and '-', at most 40 characters")]
    if UseCaseDeployment.objects.filter(owner=owner, name=name).exists():
        return [_err(["name"], f"you already have a deployment named '{name}'")]
    return []


def _template(owner, name: str, errors: Errors) -> UseCaseTemplate | None:
    template = template_visible_qs(user=owner).filter(name=name).first()
    if template is None:
        errors.append(_err(["template"], f"no template named '{name}'"))
    return template


def _cluster(owner, cluster_id: Any, errors: Errors) -> Cluster | None:
    cluster = cluster_list(user=owner).filter(pk=cluster_id).first()
    if cluster is None:
        errors.append(_err(["cluster_id"], f"no cluster {cluster_id} of yours"))
    return cluster


def _choice(component: dict[str, Any], given: Any, errors: Errors) -> str | None:
    """The catalog choice for one slot ("" for a helm chart), or None when the slot is left out."""
    loc: list[str | int] = ["components", component["name"]]
    required = component.get("required", True)
    if given is None:  # an explicit null leaves an optional slot out
        if required:
            errors.append(_err(loc, "this component is required and cannot be left out"))
        return None
    if component["type"] == "helm":
        if given is not MISSING:
            errors.append(
                _err(
                    loc,
                    "a helm component installs its chart; leave it out of 'components' "
                    "(or null to skip it when it is optional)",
                )
            )
        return ""
    choice = component.get("default_component") if given is MISSING else given
    allowed = component.get("compatible_components") or [c for c in [component.get("default_component")] if c]
    if choice is None:
        if required:
            errors.append(_err(loc, f"choose one of: {', '.join(allowed)}"))
        return None
    if choice not in allowed:
        errors.append(_err(loc, f"'{choice}' is not compatible with this slot; choose one of: {', '.join(allowed)}"))
        return None
    return choice


def _selections(template: UseCaseTemplate, components: dict[str, Any], errors: Errors) -> dict[str, str]:
    names = {c["name"] for c in template.components}
    errors += [
        _err(["components", slot], f"unknown component '{slot}'; the template has: {', '.join(sorted(names))}")
        for slot in components
        if slot not in names
    ]
    selections = {}
    for component in template.components:
        choice = _choice(component, components.get(component["name"], MISSING), errors)
        if choice is not None:
            selections[component["name"]] = choice
    return selections


def _parameters(template: UseCaseTemplate, given: dict[str, Any], errors: Errors) -> dict[str, Any]:
    specs = template.parameters or {}
    errors += [_err(["parameters", name], f"unknown parameter '{name}'") for name in given if name not in specs]
    values = {}
    for name, spec in specs.items():
        value = given.get(name, spec.get("default"))
        if value is None:
            errors.append(_err(["parameters", name], "required: the template gives no default"))
            continue
        problem = parameter_value_problem(spec, value)
        if problem:
            errors.append(_err(["parameters", name], problem))
        values[name] = value
    return values


def _reference_errors(template: UseCaseTemplate, selections: dict[str, str]) -> Errors:
    errors = []
    for name in selections:
        for step in sorted(referenced_steps(template.component(name)) - set(selections)):
            errors.append(_err(["components", name], f"its values use steps.{step}.outputs, but '{step}' is left out"))
    return errors


def _blocked_errors(template: UseCaseTemplate, selections: dict[str, str]) -> Errors:
    errors = []
    for name, selected in selections.items():
        values = effective_chart(template.component(name), selected)["values"]
        errors += find_blocked_values(values, ("components", name, "values"))
    return errors


def clean_request(
    *,
    owner,
    name: str,
    template: str,
    cluster_id: Any,
    components: dict[str, Any],
    parameters: dict[str, Any],
    notify_webhook_url: str = "",
) -> CleanRequest:
    """The checked request, or ServiceValidationError naming every field that is wrong."""
    errors = name_errors(owner, name) + depth_errors(parameters, ("parameters",))
    the_template = _template(owner, template, errors)
    cluster = _cluster(owner, cluster_id, errors)
    if notify_webhook_url and (problem := check_url(notify_webhook_url)):
        errors.append(_err(["notify_webhook_url"], problem))
    selections, values = {}, {}
    if the_template is not None:
        selections = _selections(the_template, components, errors)
        values = _parameters(the_template, parameters, errors)
        if not errors:
            errors += _reference_errors(the_template, selections) + _blocked_errors(the_template, selections)
    if errors:
        raise ServiceValidationError(errors)
    return CleanRequest(template=the_template, cluster=cluster, selections=selections, parameters=values)


def with_helm_options(document: dict[str, Any], helm: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The template document with a deployment's per-component Helm options merged over the template's;
    422 at ``helm.<name>`` for a component the template does not have."""
    names = {c["name"] for c in document.get("components") or []}
    unknown = [name for name in helm if name not in names]
    if unknown:
        raise ServiceValidationError([_err(["helm", name], "the template has no such component") for name in unknown])
    for component in document.get("components") or []:
        if component["name"] in helm:
            component["helm"] = {**(component.get("helm") or {}), **helm[component["name"]]}
    return document
