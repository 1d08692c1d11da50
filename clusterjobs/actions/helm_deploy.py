"""Action ``helm_deploy`` (seed B.1): install any chart through a HELM_DEPLOY job, finish on its event."""

from __future__ import annotations

from typing import Any

from clusterjobs.actions.common import (
    cancel_job, default_namespace, deploy_outputs, is_template, job_event_result, start_job,
    validate_deploy_params,
)
from clusterjobs import validators
from clusterjobs.jobconfig import parse_timeout
from clusterjobs.models import JOB_TYPE_TIMEOUTS, JobType
from pipelines.actions.base import (
    Action, ActionContext, ActionMeta, ActionResult, EventContext, EventResult, ExecutionMode, ParamSpec,
)

# The job may run a little longer than Helm's own --timeout (render, pull, endpoint discovery).
JOB_TIMEOUT_MARGIN_SECONDS = 120


def job_timeout(helm_timeout: Any) -> int:
    seconds = parse_timeout(helm_timeout)
    default = JOB_TYPE_TIMEOUTS[JobType.HELM_DEPLOY]
    return max(default, seconds + JOB_TIMEOUT_MARGIN_SECONDS) if seconds else default


class HelmDeployAction(Action):
    meta = ActionMeta(
        type="helm_deploy",
        name="Deploy Helm Chart",
        description=("Deploy any Helm chart (oci://, https:// repo, or a bundled charts/<name>) to a cluster. "
                     "Event-driven: waits for the cluster job to report completion."),
        category="Deployment",
        params=(
            ParamSpec("cluster_id", "string", required=True, description="Target cluster"),
            ParamSpec("chart_ref", "string", required=True,
                      description="oci://host/path, https://host/path/<chart> or charts/<name>"),
            ParamSpec("chart_version", "string", description="Version or constraint, e.g. '1.2.0' or '>=1.0'"),
            ParamSpec("release_name", "string", description="Helm release name (default uc-<execution>)"),
            ParamSpec("namespace", "string", description="Namespace (default: the deployment's uc-<8 hex>)"),
            ParamSpec("values", "object", default={}, description="Helm values"),
            ParamSpec("timeout", "string", default="600s", description="Helm --timeout ('600s', '10m', 600)"),
            ParamSpec("deployment_id", "string", description="The use-case deployment this release belongs to"),
            ParamSpec("user_id", "string", description="Informational: who asked"),
        ),
        outputs=("job_id", "namespace", "release_name", "endpoint_url", "services", "status"),
        execution_mode=ExecutionMode.EVENT_DRIVEN,
        timeout_seconds=3600,
        idempotent=False,
    )

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        errors = super().validate_params(params) + validate_deploy_params(params)
        ref = params.get("chart_ref")
        if ref and not is_template(ref):
            problem = validators.validate_chart_ref(ref)
            errors += [f"chart_ref: {problem}"] if problem else []
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        p = ctx.params
        release_name = p.get("release_name") or f"uc-{ctx.execution_id.replace('-', '')[:8]}"
        config = {
            "chart_ref": p.get("chart_ref"), "chart_version": p.get("chart_version"),
            "release_name": release_name, "namespace": p.get("namespace") or default_namespace(ctx),
            "values": p.get("values") or {}, "timeout": p.get("timeout") or None,
            "deployment_id": p.get("deployment_id"), "step_id": ctx.step_id,
        }
        return start_job(ctx, job_type=JobType.HELM_DEPLOY, config=config, name=f"helm-{release_name}",
                         timeout_seconds=job_timeout(p.get("timeout")))

    def on_event(self, ctx: EventContext) -> EventResult:
        return job_event_result(ctx, deploy_outputs)

    def cancel(self, ctx: ActionContext) -> None:
        cancel_job(ctx)
