"""Build the pipeline DAG of a deployment from its template snapshot: one step per component, in parallel waves.

``cluster_health`` → the components, wave by wave (each component depends on every component of the previous
wave, and on any component whose outputs its values reference as ``{{ steps.X.outputs.Y }}``) →
``notify_complete``. Step ids are component names. Jinja strings stay in the params: the engine renders them
when the step runs (``steps``, ``parameters`` and ``deployment`` are in scope).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from budportal.errors import ServiceValidationError
from clusterjobs.validators import dns_label
from pipelines.params import RenderError, find_references, preview
from usecases.component_catalog import deep_merge, resolve_component
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment

CALLBACK_TOPIC = "budusecasesEvents"
HEALTH_STEP = "cluster_health"
NOTIFY_STEP = "notify_complete"
DAG_TIMEOUT_SECONDS = 7200
# A stop can race the cancelled install still holding Helm's release lock: the uninstall is tried again.
CLEANUP_RETRY = {"max_attempts": 3, "backoff_seconds": 5}
HELM_RELEASE_NAME_MAX = 53  # Helm's own limit on release names


@dataclass(frozen=True)
class Inputs:
    """What an apply installs: the template document, parameters, slot choices and per-component value
    overrides. A deployment's current inputs, a draft's, or a recorded revision's."""

    template_snapshot: dict[str, Any]
    parameters: dict[str, Any]
    selections: dict[str, str]
    value_overrides: dict[str, Any] = field(default_factory=dict)


def deployment_inputs(deployment: UseCaseDeployment) -> Inputs:
    return Inputs(
        template_snapshot=deployment.template_snapshot,
        parameters=dict(deployment.parameters or {}),
        selections=dict(deployment.components.values_list("component_name", "selected_component")),
        value_overrides=dict(deployment.value_overrides or {}),
    )


def template_from_snapshot(snapshot: dict[str, Any]) -> UseCaseTemplate:
    """An unsaved template built from a deployment's snapshot, for its ``waves`` and ``component``."""
    return UseCaseTemplate(
        name=snapshot.get("name", ""),
        version=snapshot.get("version", ""),
        components=snapshot.get("components") or [],
        parameters=snapshot.get("parameters") or {},
        deployment_order=snapshot.get("deployment_order") or [],
    )


def release_name(deployment_name: str, component_name: str) -> str:
    """``<deployment>-<component>`` as a DNS label short enough for Helm (``my-rag`` + ``vector_db`` →
    ``my-rag-vector-db``)."""
    return dns_label(f"{deployment_name}-{component_name}")[:HELM_RELEASE_NAME_MAX].rstrip("-")


def component_values(component: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values a component's step passes: a helm chart's own values, else the template's overrides; the
    deployment's own value overrides for the component merged over either."""
    if component["type"] == "helm":
        values = (component.get("chart") or {}).get("values") or {}
    else:
        values = component.get("values") or {}
    return deep_merge(values, overrides) if overrides else values


def effective_chart(
    component: dict[str, Any], selected: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{"ref", "version", "values"}`` the release will install: the helm chart, or the catalog entry's chart
    with the template's values merged over the catalog's (what ``deployment_create`` does at run time), and the
    deployment's value overrides over that."""
    if component["type"] == "helm":
        chart = component.get("chart") or {}
        return {
            "ref": chart.get("ref"),
            "version": chart.get("version"),
            "values": component_values(component, overrides),
        }
    entry = resolve_component(selected) or {"chart": {"ref": None, "version": None, "values": {}}}
    chart = entry["chart"]
    return {
        "ref": chart["ref"],
        "version": chart.get("version"),
        "values": deep_merge(chart.get("values") or {}, component_values(component, overrides)),
    }


def referenced_steps(component: dict[str, Any], overrides: dict[str, Any] | None = None) -> set[str]:
    """Names X of every ``{{ steps.X.outputs.… }}`` in the component's values (overrides included)."""
    return {step for step, _ in find_references(component_values(component, overrides))}


def included_waves(template: UseCaseTemplate, included: set[str]) -> list[list[str]]:
    """The template's waves without left-out components (a wave left empty disappears)."""
    waves = [[name for name in wave if name in included] for wave in template.waves]
    return [wave for wave in waves if wave]


def _kept_step(name: str, outputs: dict[str, Any], depends_on: list[str]) -> dict[str, Any]:
    """A component an upgrade leaves alone: no Helm call, only its recorded outputs for later steps' Jinja."""
    return {"id": name, "action": "set_output", "depends_on": depends_on, "params": {"values": outputs}}


def helm_step_options(component: dict[str, Any]) -> dict[str, Any]:
    """The component's ``access`` and ``helm`` options as step params (the deploy actions' names)."""
    options: dict[str, Any] = {"access": component["access"]} if component.get("access") else {}
    helm = component.get("helm") or {}
    if helm.get("timeout_seconds"):
        options["timeout"] = f"{helm['timeout_seconds']}s"
    return options | {key: helm[key] for key in ("create_namespace", "delete_on_failure") if key in helm}


def _component_step(
    deployment: UseCaseDeployment,
    component: dict[str, Any],
    selected: str,
    depends_on: list[str],
    overrides: dict[str, Any] | None,
) -> dict[str, Any]:
    name = component["name"]
    common = {
        "cluster_id": str(deployment.cluster_id),
        "release_name": release_name(deployment.name, name),
        "namespace": deployment.namespace,
        "deployment_id": str(deployment.pk),
        "user_id": str(deployment.owner_id),
    }
    common |= helm_step_options(component)
    if component["type"] == "helm":
        chart = component["chart"]
        params = {**common, "chart_ref": chart["ref"], "values": component_values(component, overrides)}
        if chart.get("version"):
            params["chart_version"] = chart["version"]
        return {"id": name, "action": "helm_deploy", "depends_on": depends_on, "params": params}
    params = {
        **common,
        "component_name": name,
        "component_type": component["type"],
        "selected_component": selected,
        "values": component_values(component, overrides),
    }
    return {"id": name, "action": "deployment_create", "depends_on": depends_on, "params": params}


def _notify_step(deployment: UseCaseDeployment, depends_on: list[str]) -> dict[str, Any]:
    params = {
        "message": f"Use case '{deployment.name}' deployed successfully",
        "user_id": str(deployment.owner_id),
        "level": "success",
        "title": "Deployment running",
        "link": reverse("usecases:deployment-detail", args=[deployment.pk]),
    }
    if deployment.notify_webhook_url:
        params["webhook_url"] = deployment.notify_webhook_url
    return {"id": NOTIFY_STEP, "action": "notification", "depends_on": depends_on, "params": params}


def component_steps(
    deployment: UseCaseDeployment, template: UseCaseTemplate, inputs: Inputs, keep: dict[str, dict[str, Any]]
) -> tuple[list[dict], list[str]]:
    """The component steps in wave order, and the ids of the last wave. A component in ``keep`` becomes a
    ``set_output`` step republishing its recorded outputs (an upgrade that leaves it alone)."""
    selections = inputs.selections
    steps: list[dict[str, Any]] = []
    previous = [HEALTH_STEP]
    for wave in included_waves(template, set(selections)):
        for name in wave:
            component = template.component(name)
            overrides = inputs.value_overrides.get(name)
            refs = sorted(referenced_steps(component, overrides) & set(selections) - {name} - set(previous))
            if name in keep:
                steps.append(_kept_step(name, keep[name], [*previous, *refs]))
            else:
                steps.append(_component_step(deployment, component, selections[name], [*previous, *refs], overrides))
        previous = wave
    return steps, previous


def build_dag(
    *,
    deployment: UseCaseDeployment,
    inputs: Inputs | None = None,
    keep: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The DAG ``POST …/start`` (or an apply of ``inputs``) submits: the engine's DAG format plus
    ``deployment`` for Jinja's ``deployment.*``. Components in ``keep`` are not installed again."""
    inputs = inputs or deployment_inputs(deployment)
    template = template_from_snapshot(inputs.template_snapshot)
    steps, last_wave = component_steps(deployment, template, inputs, keep or {})
    health = {
        "id": HEALTH_STEP,
        "action": "cluster_health",
        "depends_on": [],
        "params": {"cluster_id": str(deployment.cluster_id)},
    }
    return {
        "name": f"deploy-usecase-{deployment.name}",
        "version": "1.0.0",
        "description": f"Deploy use case: {deployment.name} ({template.name} {template.version})",
        "parameters": dict(inputs.parameters),
        "deployment": deployment.deployment_context,
        "settings": {"timeout_seconds": DAG_TIMEOUT_SECONDS, "on_failure": "fail"},
        "steps": [health, *steps, _notify_step(deployment, last_wave)],
        "outputs": {"deployment_id": str(deployment.pk)},
        "callback_topics": [CALLBACK_TOPIC],
    }


def build_cleanup_dag(*, deployment: UseCaseDeployment, releases: list[str]) -> dict[str, Any]:
    """One ``helm_uninstall`` step: every release of the deployment, then its namespace."""
    params = {
        "cluster_id": str(deployment.cluster_id),
        "releases": releases,
        "namespace": deployment.namespace,
        "deployment_id": str(deployment.pk),
        "delete_namespace": True,
    }
    return {
        "name": f"cleanup-usecase-{deployment.name}",
        "version": "1.0.0",
        "description": f"Uninstall use case: {deployment.name}",
        "settings": {"timeout_seconds": DAG_TIMEOUT_SECONDS, "on_failure": "fail"},
        "steps": [
            {
                "id": "uninstall",
                "action": "helm_uninstall",
                "depends_on": [],
                "params": params,
                "retry": dict(CLEANUP_RETRY),
            }
        ],
        "callback_topics": [CALLBACK_TOPIC],
    }


# --- the plan: what start would submit, before anything touches the cluster ------------------------
def component_plan(
    deployment: UseCaseDeployment,
    step: dict[str, Any],
    component: dict[str, Any],
    selected: str,
    chart: dict[str, Any],
    values: Any,
    pending: list[str],
) -> dict[str, Any]:
    return {
        "name": component["name"],
        "type": component["type"],
        "selected_component": selected,
        "action": step["action"],
        "depends_on": step["depends_on"],
        "release_name": release_name(deployment.name, component["name"]),
        "namespace": deployment.namespace,
        "chart_ref": chart["ref"],
        "chart_version": chart["version"],
        "values": values,
        "pending_refs": pending,
    }


def _previewed_values(
    deployment: UseCaseDeployment, parameters: dict[str, Any], charts: list[dict[str, Any]]
) -> list[tuple[Any, list[str]]]:
    """Every component's values with ``parameters.*`` / ``deployment.*`` rendered, in ONE render round-trip
    (one time limit for the whole plan, so a hostile public template cannot make its viewers wait per string)."""
    context = {
        "parameters": parameters,
        "params": parameters,
        "deployment": deployment.deployment_context,
    }
    try:
        return preview([chart["values"] for chart in charts], context)
    except RenderError as exc:
        raise ServiceValidationError.at(("values",), exc.message) from None


def build_plan(
    *, deployment: UseCaseDeployment, inputs: Inputs | None = None, keep: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The DAG, its waves, and each component's chart and values as they will be installed."""
    inputs = inputs or deployment_inputs(deployment)
    dag = build_dag(deployment=deployment, inputs=inputs, keep=keep)
    template = template_from_snapshot(inputs.template_snapshot)
    selections, overrides = inputs.selections, inputs.value_overrides
    steps = [step for step in dag["steps"] if step["id"] in selections]
    charts = [
        effective_chart(template.component(step["id"]), selections[step["id"]], overrides.get(step["id"]))
        for step in steps
    ]
    previews = _previewed_values(deployment, inputs.parameters, charts)
    components = [
        component_plan(deployment, step, template.component(step["id"]), selections[step["id"]], chart, *values)
        for step, chart, values in zip(steps, charts, previews, strict=True)
    ]
    return {
        "deployment_id": str(deployment.pk),
        "namespace": deployment.namespace,
        "dag": dag,
        "waves": included_waves(template, set(selections)),
        "template_name": template.name,
        "template_version": template.version,
        "components": components,
    }
