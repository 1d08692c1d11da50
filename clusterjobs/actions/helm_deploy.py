"""Action ``helm_deploy``: install any chart through a HELM_DEPLOY job, finish on its event."""

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
from clusterjobs.jobconfig import parse_timeout
from clusterjobs.models import JOB_TYPE_TIMEOUTS, JobType
from pipelines.actions.base import ActionContext, ActionResult, ParamSpec

# The job may run a little longer than Helm's own --timeout (render, pull, endpoint discovery).
JOB_TIMEOUT_MARGIN_SECONDS = 120


def job_timeout(helm_timeout: Any, job_type: str = JobType.HELM_DEPLOY) -> int:
    """The job's own timeout: its type's default, or longer when Helm is told to wait longer."""
    seconds = parse_timeout(helm_timeout)
    default = JOB_TYPE_TIMEOUTS[job_type]
    return max(default, seconds + JOB_TIMEOUT_MARGIN_SECONDS) if seconds else default


class HelmDeployAction(JobAction):
    meta = deploy_meta(
        type="helm_deploy",
        name="Deploy Helm Chart",
        description=(
            "Deploy any Helm chart (oci://, https:// repo, or a bundled charts/<name>) to a cluster. "
            "Event-driven: waits for the cluster job to report completion."
        ),
        params=(
            CLUSTER_PARAM,
            ParamSpec(
                "chart_ref",
                "string",
                required=True,
                description="oci://host/path, https://host/path/<chart> or charts/<name>",
            ),
            ParamSpec("chart_version", "string", description="Version or constraint, e.g. '1.2.0' or '>=1.0'"),
            ParamSpec("release_name", "string", description="Helm release name (default uc-<execution>)"),
            NAMESPACE_PARAM,
            ParamSpec("values", "object", default={}, description="Helm values"),
            TIMEOUT_PARAM,
            *HELM_OPTION_PARAMS,
            ParamSpec("deployment_id", "string", description="The use-case deployment this release belongs to"),
            USER_PARAM,
        ),
    )

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        errors = super().validate_params(params)
        ref = params.get("chart_ref")
        if ref and not is_template(ref):
            problem = validators.validate_chart_ref(ref)
            errors += [f"chart_ref: {problem}"] if problem else []
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        p = ctx.params
        release_name = p.get("release_name") or f"uc-{ctx.execution_id.replace('-', '')[:8]}"
        config = {
            "chart_ref": p.get("chart_ref"),
            "chart_version": p.get("chart_version"),
            "release_name": release_name,
            "namespace": p.get("namespace") or default_namespace(ctx),
            "values": p.get("values") or {},
            "timeout": p.get("timeout") or None,
            "deployment_id": p.get("deployment_id"),
            "step_id": ctx.step_id,
            **helm_options(p),
        }
        return start_job(
            ctx,
            job_type=JobType.HELM_DEPLOY,
            config=config,
            name=f"helm-{release_name}",
            timeout_seconds=job_timeout(p.get("timeout")),
        )
