"""Action ``helm_uninstall``: uninstall releases (``--wait``), then remove the namespace if nothing is left."""

from __future__ import annotations

from typing import Any

from clusterjobs.actions.common import (
    CLUSTER_PARAM,
    NAMESPACE_PARAM,
    TIMEOUT_PARAM,
    JobAction,
    default_namespace,
    start_job,
)
from clusterjobs.models import JobType
from pipelines.actions.base import ActionContext, ActionMeta, ActionResult, ExecutionMode, ParamSpec


def uninstall_outputs(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "uninstalled": result.get("uninstalled", []),
        "namespace": result.get("namespace", ""),
        "namespace_deleted": bool(result.get("namespace_deleted")),
        "status": "uninstalled",
    }


class HelmUninstallAction(JobAction):
    meta = ActionMeta(
        type="helm_uninstall",
        name="Uninstall Helm releases",
        description="helm uninstall --wait each release in the namespace, then delete the namespace when empty.",
        category="Deployment",
        params=(
            CLUSTER_PARAM,
            ParamSpec("releases", "array", required=True, description="Release names to uninstall"),
            NAMESPACE_PARAM,
            ParamSpec("deployment_id", "string", description="The use-case deployment"),
            ParamSpec("delete_namespace", "boolean", default=True, description="Remove the namespace if empty"),
            TIMEOUT_PARAM,
        ),
        outputs=("job_id", "uninstalled", "namespace", "namespace_deleted", "status"),
        execution_mode=ExecutionMode.EVENT_DRIVEN,
        timeout_seconds=900,
    )

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        errors = super().validate_params(params)
        releases = params.get("releases")
        if releases is not None and not isinstance(releases, (list, str)):
            errors.append("releases: must be a list of release names")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        p = ctx.params
        config = {
            "releases": p.get("releases"),
            "namespace": p.get("namespace") or default_namespace(ctx),
            "delete_namespace": p.get("delete_namespace", True),
            "timeout": p.get("timeout") or None,
            "deployment_id": p.get("deployment_id"),
        }
        return start_job(ctx, job_type=JobType.HELM_UNINSTALL, config=config, name=f"uninstall-{config['namespace']}")

    def outputs_from_result(self, result: dict[str, Any]) -> dict[str, Any]:
        return uninstall_outputs(result)
