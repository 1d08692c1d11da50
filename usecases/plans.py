"""The plan of a change to a running deployment (``GET …/plan?revision=draft``), computed before anything is
applied: which components are upgraded and which are skipped (a component is upgraded when its chart, its
catalog choice or its values with ``parameters.*`` rendered changed, or when it is not running), the DAG
that would run, each component's values diff against the live revision, and the rendered-manifest diff
against what the cluster has (``helm template`` of the new values vs ``helm get manifest``).

Reads only: nothing here writes a row or touches the cluster beyond reading a release.
"""

from __future__ import annotations

import logging
from typing import Any

from clusterjobs.crypto import mask_tree, sealed_plaintexts, unseal_tree
from clusterjobs.helm.inspect import release_manifest, render_release
from clusterjobs.helm.runner import HelmError
from clusterjobs.redact import redact
from pipelines.params import RenderError, render
from usecases.dag import Inputs, build_dag, build_plan, effective_chart, template_from_snapshot
from usecases.models.deployments import (
    ComponentStatus,
    DeploymentRevision,
    DeploymentStatus,
    UseCaseDeployment,
)
from usecases.plan_diff import manifest_diff, unified

logger = logging.getLogger(__name__)

FINGERPRINT = ("selected_component", "chart_ref", "chart_version", "values")
OUTPUT_KEYS = ("job_id", "namespace", "release_name", "endpoint_url", "services", "status")


def fingerprint(component: dict[str, Any]) -> dict[str, Any]:
    """What decides whether a component must be upgraded (from a ``build_plan`` component)."""
    return {key: component.get(key) for key in FINGERPRINT}


def recorded_components(plan: dict[str, Any], keep: dict[str, Any], running: set[str]) -> dict[str, Any]:
    """What a revision records per component when it is submitted."""
    return {
        c["name"]: {
            "action": "skip" if c["name"] in keep else "upgrade",
            "release_name": c["release_name"],
            "previous": c["name"] in running,
            "fingerprint": fingerprint(c),
        }
        for c in plan["components"]
    }


def kept_outputs(deployment: UseCaseDeployment, name: str) -> dict[str, Any]:
    row = deployment.components.get(component_name=name)
    outputs: dict[str, Any] = dict.fromkeys(OUTPUT_KEYS, "") | {"services": []} | dict(row.outputs or {})
    outputs.update(
        endpoint_url=row.endpoint_url,
        release_name=row.release_name,
        job_id=row.job_id,
        status=ComponentStatus.RUNNING.value,
    )
    return outputs


def running_components(deployment: UseCaseDeployment) -> set[str]:
    if deployment.status == DeploymentStatus.STOPPED:
        return set()
    return set(deployment.components.filter(status=ComponentStatus.RUNNING).values_list("component_name", flat=True))


def skippable(
    deployment: UseCaseDeployment, plan: dict[str, Any], live: DeploymentRevision | None, *, force: bool = False
) -> dict[str, dict[str, Any]]:
    """Component → its recorded outputs, for each component the change leaves as it is."""
    if force or live is None:
        return {}
    running = running_components(deployment)
    before = live.components or {}
    keep = {}
    for component in plan["components"]:
        name = component["name"]
        if name in running and (before.get(name) or {}).get("fingerprint") == fingerprint(component):
            keep[name] = kept_outputs(deployment, name)
    return keep


def live_revision(deployment: UseCaseDeployment) -> DeploymentRevision | None:
    return deployment.revisions.filter(number=deployment.live_revision).first() if deployment.live_revision else None


def _render_context(deployment: UseCaseDeployment, parameters: dict[str, Any]) -> dict[str, Any]:
    steps = {
        c.component_name: {"outputs": kept_outputs(deployment, c.component_name)} for c in deployment.components.all()
    }
    return {"parameters": parameters, "params": parameters, "deployment": deployment.deployment_context, "steps": steps}


def _manifest_changes(
    deployment: UseCaseDeployment, component: dict[str, Any], chart_values: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """The rendered-manifest diff of one upgraded component, or the reason it could not be computed."""
    if deployment.cluster is None:
        return {"objects": [], "error": "the deployment's cluster was deleted"}
    secrets = sealed_plaintexts(chart_values) + sealed_plaintexts(context.get("live_values") or {})
    try:
        values = unseal_tree(render(chart_values, {k: v for k, v in context.items() if k != "live_values"}))
        desired = render_release(
            cluster=deployment.cluster,
            chart_ref=component["chart_ref"],
            chart_version=component["chart_version"],
            release_name=component["release_name"],
            namespace=deployment.namespace,
            values=values,
        )
        current = release_manifest(
            cluster=deployment.cluster, release_name=component["release_name"], namespace=deployment.namespace
        )
    except (HelmError, RenderError) as exc:
        return {"objects": [], "error": redact(str(exc), secrets)}
    # Rendered objects may quote a secret anywhere (a ConfigMap, an env var): it never reaches the diff.
    objects = manifest_diff(current, desired)
    return {"objects": [{**o, "diff": redact(o["diff"], secrets)} for o in objects], "error": ""}


def plan_change(
    *, deployment: UseCaseDeployment, inputs: Inputs, with_manifests: bool = True, force: bool = False
) -> dict[str, Any]:
    """The plan of applying ``inputs`` to the deployment as it runs now (see the module docstring)."""
    plan = build_plan(deployment=deployment, inputs=inputs)
    live = live_revision(deployment)
    keep = skippable(deployment, plan, live, force=force)
    before = (live.components or {}) if live else {}
    context = _render_context(deployment, inputs.parameters) if with_manifests else {}
    if live is not None:  # the secrets of the live revision are in the cluster's manifests: redact them too
        context["live_values"] = live.value_overrides or {}
    charts = {c["name"]: c for c in plan["components"]}
    for component in plan["components"]:
        name = component["name"]
        component["action"] = "skip" if name in keep else "upgrade"
        old = ((before.get(name) or {}).get("fingerprint") or {}).get("values")
        component["values_diff"] = unified(
            mask_tree(old), mask_tree(component["values"]), old_name=f"live/{name}", new_name=f"plan/{name}"
        )
        component["manifest"] = {"objects": [], "error": ""}
        if with_manifests and name not in keep:
            component["manifest"] = _manifest_changes(deployment, charts[name], _chart_values(inputs, name), context)
    plan["dag"] = build_dag(deployment=deployment, inputs=inputs, keep=keep)
    plan["live_revision"] = deployment.live_revision or None
    return plan


def _chart_values(inputs: Inputs, name: str) -> dict[str, Any]:
    component = template_from_snapshot(inputs.template_snapshot).component(name) or {"type": "helm"}
    return effective_chart(component, inputs.selections[name], inputs.value_overrides.get(name))["values"]
