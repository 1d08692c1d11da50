"""Action ``deployment_create``: deploy one use-case component as a Helm release.

The component type picks the job type; the selected component (``qdrant``, ``llama-3-8b``…) is
looked up in the component catalog, which names its bundled chart and values. A ``helm`` component brings
its own ``chart`` in the params instead.
"""

from __future__ import annotations

from typing import Any

from clusterjobs import validators
from clusterjobs.actions.common import (
    CLUSTER_PARAM,
    HELM_OPTION_PARAMS,
    NAMESPACE_PARAM,
    TIMEOUT_PARAM,
    USER_PARAM,
    JobAction,
    default_namespace,
    deploy_meta,
    helm_options,
    is_template,
    start_job,
)
from clusterjobs.actions.helm_deploy import job_timeout
from clusterjobs.models import JobType
from pipelines.actions.base import ActionContext, ActionResult, ParamSpec
from usecases.component_catalog import deep_merge, resolve_component

COMPONENT_TYPE_TO_JOB_TYPE: dict[str, str] = {
    "model": JobType.MODEL_DEPLOYMENT,
    "llm": JobType.MODEL_DEPLOYMENT,
    "embedder": JobType.MODEL_DEPLOYMENT,
    "reranker": JobType.MODEL_DEPLOYMENT,
    "vector_db": JobType.VECTOR_DB_DEPLOYMENT,
    "memory_store": JobType.MEMORY_STORE_DEPLOYMENT,
    "helm": JobType.HELM_DEPLOY,
}


def component_chart(params: dict[str, Any]) -> dict[str, Any]:
    """``{"ref", "version", "values"}`` for the component; raises ValueError when it cannot be found."""
    if isinstance(params.get("chart"), dict) and params["chart"].get("ref"):
        return params["chart"]
    name = params.get("selected_component") or params.get("component_name")
    component = resolve_component(name) if name else None
    if not component or not (component.get("chart") or {}).get("ref"):
        raise ValueError(f"component {name!r} is not in the component catalog")
    return component["chart"]


class DeploymentCreateAction(JobAction):
    meta = deploy_meta(
        type="deployment_create",
        name="Deploy use-case component",
        description="Deploys one component of a use case (model, vector DB, memory store, Helm chart) as a "
        "Helm release in the deployment's namespace; waits for the cluster job's event.",
        params=(
            CLUSTER_PARAM,
            ParamSpec("component_name", "string", required=True, description="The component's name in the template"),
            ParamSpec(
                "component_type",
                "string",
                required=True,
                description="model | llm | embedder | reranker | vector_db | memory_store | helm",
            ),
            ParamSpec("selected_component", "string", description="Catalog entry, e.g. qdrant or llama-3-8b"),
            ParamSpec("deployment_id", "string", required=True, description="The use-case deployment"),
            USER_PARAM,
            NAMESPACE_PARAM,
            ParamSpec("release_name", "string", description="Release name (default: the component name)"),
            ParamSpec("values", "object", default={}, description="Value overrides merged over the catalog's"),
            ParamSpec("chart", "object", description="{ref, version, values} for helm components"),
            TIMEOUT_PARAM,
            *HELM_OPTION_PARAMS,
        ),
    )

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        errors = super().validate_params(params)
        component_type = params.get("component_type")
        if (
            isinstance(component_type, str)
            and not is_template(component_type)
            and component_type not in COMPONENT_TYPE_TO_JOB_TYPE
        ):
            errors.append(f"component_type: {component_type!r} is not one of {', '.join(COMPONENT_TYPE_TO_JOB_TYPE)}")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        p = ctx.params
        try:
            chart = component_chart(p)
        except ValueError as exc:
            return ActionResult(success=False, error=str(exc))
        release_name = p.get("release_name") or validators.dns_label(p.get("component_name") or "component")
        config = {
            "chart_ref": chart["ref"],
            "chart_version": chart.get("version"),
            "release_name": release_name,
            "namespace": p.get("namespace") or default_namespace(ctx),
            "values": deep_merge(chart.get("values") or {}, p.get("values") or {}),
            "timeout": p.get("timeout") or None,
            "deployment_id": p.get("deployment_id"),
            "component_name": p.get("component_name"),
            "step_id": ctx.step_id,
            **helm_options(p),
        }
        job_type = COMPONENT_TYPE_TO_JOB_TYPE.get(p.get("component_type"), JobType.USECASE_COMPONENT)
        name = f"{p.get('component_name')}-{release_name}"
        return start_job(
            ctx, job_type=job_type, config=config, name=name, timeout_seconds=job_timeout(p.get("timeout"))
        )
