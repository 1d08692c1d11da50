"""Build the pipeline DAG of a deployment from its template snapshot: one step per component, in parallel waves.

``cluster_health`` → the components, wave by wave (each component depends on every component of the previous
wave, and on any component whose outputs its values reference as ``{{ steps.X.outputs.Y }}``) →
``notify_complete``. Step ids are component names. Jinja strings stay in the params: the engine renders them
when the step runs (``steps``, ``parameters`` and ``deployment`` are in scope).
"""

from __future__ import annotations

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


def component_values(component: dict[str, Any]) -> dict[str, Any]:
    """The values a component's step passes: a helm chart's own values, else the template's overrides."""
    if component["type"] == "helm":
        return (component.get("chart") or {}).get("values") or {}
    return component.get("values") or {}


def effective_chart(component: dict[str, Any], selected: str) -> dict[str, Any]:
    """``{"ref", "version", "values"}`` the release will install: the helm chart, or the catalog entry's chart
    with the template's values merged over the catalog's (what ``deployment_create`` does at run time)."""
    if component["type"] == "helm":
        chart = component.get("chart") or {}
        return {"ref": chart.get("ref"), "version": chart.get("version"), "values": chart.get("values") or {}}
    entry = resolve_component(selected) or {"chart": {"ref": None, "version": None, "values": {}}}
    chart = entry["chart"]
    return {
        "ref": chart["ref"],
        "version": chart.get("version"),
        "values": deep_merge(chart.get("values") or {}, component.get("values") or {}),
    }


def referenced_steps(component: dict[str, Any]) -> set[str]:
    """Names X of every ``{{ steps.X.outputs.… }}`` in the component's values."""
    return {step for step, _ in find_references(component_values(component))}


def included_waves(template: UseCaseTemplate, included: set[str]) -> list[list[str]]:
    """The template's waves without left-out components (a wave left empty disappears)."""
    waves = [[name for name in wave if name in included] for wave in template.waves]
    return [wave for wave in waves if wave]


def _selections(deployment: UseCaseDeployment) -> dict[str, str]:
    return dict(deployment.components.values_list("component_name", "selected_component"))


def helm_step_options(component: dict[str, Any]) -> dict[str, Any]:
    """The component's ``access`` and ``helm`` options as step params (the deploy actions' names)."""
    options: dict[str, Any] = {"access": component["access"]} if component.get("access") else {}
    helm = component.get("helm") or {}
    if helm.get("timeout_seconds"):
        options["timeout"] = f"{helm['timeout_seconds']}s"
    return options | {key: helm[key] for key in ("create_namespace", "delete_on_failure") if key in helm}


def _component_step(
    deployment: UseCaseDeployment, component: dict[str, Any], selected: str, depends_on: list[str]
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
        params = {**common, "chart_ref": chart["ref"], "values": chart.get("values") or {}}
        if chart.get("version"):
            params["chart_version"] = chart["version"]
        return {"id": name, "action": "helm_deploy", "depends_on": depends_on, "params": params}
    params = {
        **common,
        "component_name": name,
        "component_type": component["type"],
        "selected_component": selected,
        "values": component.get("values") or {},
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


def component_steps(deployment: UseCaseDeployment, template: UseCaseTemplate) -> tuple[list[dict], list[str]]:
    """The component steps in wave order, and the ids of the last wave."""
    selections = _selections(deployment)
    steps: list[dict[str, Any]] = []
    previous = [HEALTH_STEP]
    for wave in included_waves(template, set(selections)):
        for name in wave:
            component = template.component(name)
            refs = sorted(referenced_steps(component) & set(selections) - {name} - set(previous))
            steps.append(_component_step(deployment, component, selections[name], [*previous, *refs]))
        previous = wave
    return steps, previous


def build_dag(*, deployment: UseCaseDeployment) -> dict[str, Any]:
    """The DAG ``POST …/start`` submits (the engine's DAG format plus ``deployment`` for Jinja's ``deployment.*``)."""
    template = template_from_snapshot(deployment.template_snapshot)
    steps, last_wave = component_steps(deployment, template)
    health = {
        "id": HEALTH_STEP,
        "action": "cluster_health",
        "depends_on": [],
        "params": {"cluster_id": str(deployment.cluster_id)},
    }
    return {
        "name": f"deploy-usecase-{deployment.name}",
        "version": "1.0.0",
        "description": f"Deploy use case: {deployment.name} ({deployment.template_name} {deployment.template_version})",
        "parameters": dict(deployment.parameters or {}),
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
    values: Any,
    pending: list[str],
) -> dict[str, Any]:
    chart = effective_chart(component, selected)
    return {
        "name": component["name"],
        "type": component["type"],
        "selected_component": selected,
        "action": step["action"],
        "depends_on": step["depends_on"],
        "release_name": step["params"]["release_name"],
        "namespace": deployment.namespace,
        "chart_ref": chart["ref"],
        "chart_version": chart["version"],
        "values": values,
        "pending_refs": pending,
    }


def _previewed_values(deployment: UseCaseDeployment, charts: list[dict[str, Any]]) -> list[tuple[Any, list[str]]]:
    """Every component's values with ``parameters.*`` / ``deployment.*`` rendered, in ONE render round-trip
    (one time limit for the whole plan, so a hostile public template cannot make its viewers wait per string)."""
    context = {
        "parameters": deployment.parameters,
        "params": deployment.parameters,
        "deployment": deployment.deployment_context,
    }
    try:
        return preview([chart["values"] for chart in charts], context)
    except RenderError as exc:
        raise ServiceValidationError.at(("values",), exc.message) from None


def build_plan(*, deployment: UseCaseDeployment) -> dict[str, Any]:
    """The DAG, its waves, and each component's chart and values as they will be installed."""
    dag = build_dag(deployment=deployment)
    template = template_from_snapshot(deployment.template_snapshot)
    selections = _selections(deployment)
    steps = [step for step in dag["steps"] if step["id"] in selections]
    charts = [effective_chart(template.component(step["id"]), selections[step["id"]]) for step in steps]
    components = [
        component_plan(deployment, step, template.component(step["id"]), selections[step["id"]], *values)
        for step, values in zip(steps, _previewed_values(deployment, charts), strict=True)
    ]
    return {
        "deployment_id": str(deployment.pk),
        "namespace": deployment.namespace,
        "dag": dag,
        "waves": included_waves(template, set(selections)),
        "components": components,
    }
