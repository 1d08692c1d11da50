"""Action ``helm_uninstall``: uninstall releases (``--wait``), then remove the namespace if nothing is left."""

from __future__ import annotations

from typing import Any

from clusterjobs.actions.common import cancel_job, default_namespace, job_event_result, start_job, validate_deploy_params
from clusterjobs.models import JobType
from pipelines.actions.base import (
    Action, ActionContext, ActionMeta, ActionResult, EventContext, EventResult, ExecutionMode, ParamSpec,
)


def uninstall_outputs(result: dict[str, Any]) -> dict[str, Any]:
    return {"uninstalled": result.get("uninstalled", []), "namespace": result.get("namespace", ""),
            "namespace_deleted": bool(result.get("namespace_deleted")), "status": "uninstalled"}


class HelmUninstallAction(Action):
    meta = ActionMeta(
        type="helm_uninstall",
        name="Uninstall Helm releases",
        description="helm uninstall --wait each release in the namespace, then delete the namespace when empty.",
        category="Deployment",
        params=(
            ParamSpec("cluster_id", "string", required=True, description="Target cluster"),
            ParamSpec("releases", "array", required=True, description="Release names to uninstall"),
            ParamSpec("namespace", "string", description="Namespace (default: the deployment's uc-<8 hex>)"),
            ParamSpec("deployment_id", "string", description="The use-case deployment"),
            ParamSpec("delete_namespace", "boolean", default=True, description="Remove the namespace if empty"),
            ParamSpec("timeout", "string", default="600s", description="Helm --timeout per release"),
        ),
        outputs=("job_id", "uninstalled", "namespace", "namespace_deleted", "status"),
        execution_mode=ExecutionMode.EVENT_DRIVEN,
        timeout_seconds=900,
    )

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        errors = super().validate_params(params) + validate_deploy_params(params)
        releases = params.get("releases")
        if releases is not None and not isinstance(releases, (list, str)):
            errors.append("releases: must be a list of release names")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        p = ctx.params
        config = {"releases": p.get("releases"), "namespace": p.get("namespace") or default_namespace(ctx),
                  "delete_namespace": p.get("delete_namespace", True), "timeout": p.get("timeout") or None,
                  "deployment_id": p.get("deployment_id")}
        return start_job(ctx, job_type=JobType.HELM_UNINSTALL, config=config, name=f"uninstall-{config['namespace']}")

    def on_event(self, ctx: EventContext) -> EventResult:
        return job_event_result(ctx, uninstall_outputs)

    def cancel(self, ctx: ActionContext) -> None:
        cancel_job(ctx)
