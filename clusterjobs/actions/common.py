"""What the cluster actions share: finding the cluster and owner, starting a job, reading its event."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model

from budportal.errors import ConflictError, ServiceValidationError
from clusterjobs import references, selectors, services, validators
from clusterjobs.models import Cluster, Job, JobStatus
from pipelines.actions.base import (
    Action,
    ActionContext,
    ActionMeta,
    ActionResult,
    EventAction,
    EventContext,
    EventResult,
    ExecutionMode,
    OutputSpec,
    ParamSpec,
    ParamType,
)
from pipelines.events import EventType
from pipelines.models import StepStatus

CLUSTER_PARAM = ParamSpec("cluster_id", ParamType.CLUSTER_REF.value, required=True, description="Target cluster")
NAMESPACE_PARAM = ParamSpec("namespace", "string", description="Namespace (default: the deployment's uc-<8 hex>)")
USER_PARAM = ParamSpec("user_id", "string", description="Informational: who asked")
TIMEOUT_PARAM = ParamSpec("timeout", "string", default="600s", description="Helm --timeout ('600s', '10m', 600)")
ACCESS_PARAM = ParamSpec("access", "object", description="{port, path, kind: ui|api}: publish an access URL")
CREATE_NAMESPACE_PARAM = ParamSpec("create_namespace", "boolean", default=True, description="Create the namespace")
DELETE_ON_FAILURE_PARAM = ParamSpec(
    "delete_on_failure", "boolean", default=False, description="A failed first install removes its namespace"
)
HELM_OPTION_PARAMS = (ACCESS_PARAM, CREATE_NAMESPACE_PARAM, DELETE_ON_FAILURE_PARAM)
DEPLOY_OUTPUTS = (
    OutputSpec("job_id", "string", "The cluster job that ran Helm"),
    OutputSpec("namespace", "string", "Where the release was installed"),
    OutputSpec("release_name", "string"),
    OutputSpec("endpoint_url", "string", "The first service's cluster-internal URL"),
    OutputSpec("services", "array", "The release's services"),
    OutputSpec("status", "string"),
    OutputSpec("access_url", "string", "The public URL published for the component (access)"),
    OutputSpec("access_kind", "string", "ui or api"),
)


def helm_options(params: dict[str, Any]) -> dict[str, Any]:
    """The job config keys the Helm options params become (checked again by ``jobconfig``)."""
    options = {key: params[key] for key in ("create_namespace", "delete_on_failure") if params.get(key) is not None}
    return options | ({"access": params["access"]} if params.get("access") else {})


def deploy_meta(*, type: str, name: str, description: str, params: tuple[ParamSpec, ...]) -> ActionMeta:
    """The meta every Helm-installing action shares: event-driven, an hour, the deploy outputs."""
    return ActionMeta(
        type=type,
        name=name,
        description=description,
        category="Deployment",
        params=params,
        outputs=DEPLOY_OUTPUTS,
        execution_mode=ExecutionMode.EVENT_DRIVEN,
        timeout_seconds=3600,
        idempotent=False,
        icon="rocket",
        color="#2563eb",
        required_services=("kubernetes", "helm"),
    )


class ActionInputError(Exception):
    """The step's params cannot be acted on; the message is shown as the step's error."""


def is_template(value: Any) -> bool:
    """A Jinja string that is rendered only when the step runs; it cannot be checked before."""
    return isinstance(value, str) and "{{" in value


def cluster_for(ctx: ActionContext) -> tuple[Cluster, Any]:
    """The step's cluster and the user the job runs as (the execution's owner, else the cluster's). The owner
    must be able to use the cluster: their own, one shared with a group of theirs, or any for staff."""
    cluster_id = ctx.params.get("cluster_id")
    try:
        cluster = Cluster.objects.select_related("owner").get(pk=uuid.UUID(str(cluster_id)))
    except (Cluster.DoesNotExist, ValueError, TypeError):
        raise ActionInputError(f"cluster {cluster_id!r} not found") from None
    if ctx.owner_id is None:
        return cluster, cluster.owner
    owner = get_user_model().objects.get(pk=ctx.owner_id)
    if not selectors.cluster_list(user=owner).filter(pk=cluster.pk).exists():
        raise ActionInputError(f"cluster {cluster_id!r} not found")
    return cluster, owner


def validate_references(params: dict[str, Any], owner: Any) -> list[str]:
    """The step's ``cluster_id`` must be usable by the execution's owner and its ``deployment_id`` theirs:
    checked at submit (422) so a DAG cannot aim at someone else's cluster or deployment; Jinja values are
    checked when the step runs (``cluster_for``, ``services.job_create``)."""
    errors = []
    cluster_id = params.get("cluster_id")
    if cluster_id and not is_template(cluster_id):
        try:
            usable = selectors.cluster_list(user=owner).filter(pk=uuid.UUID(str(cluster_id))).exists()
        except ValueError:
            usable = False
        if not usable:
            errors.append(f"cluster_id: cluster {cluster_id!r} not found")
    deployment_id = params.get("deployment_id")
    if deployment_id and not is_template(deployment_id):
        try:
            mine = references.deployment_visible(user=owner, deployment_id=uuid.UUID(str(deployment_id)))
        except ValueError:
            mine = False
        if not mine:
            errors.append(f"deployment_id: no deployment {deployment_id!r} of yours")
    return errors


def default_namespace(ctx: ActionContext) -> str:
    source = ctx.params.get("deployment_id") or getattr(ctx, "deployment_id", None) or ctx.execution_id
    return validators.deployment_namespace(source)


def start_job(
    ctx: ActionContext, *, job_type: str, config: dict[str, Any], name: str, timeout_seconds: int | None = None
) -> ActionResult:
    """Create and queue the job; the step then waits for its ``job_completed`` / ``job_failed`` event."""
    try:
        cluster, owner = cluster_for(ctx)
        job = services.job_create(
            owner=owner,
            cluster=cluster,
            job_type=job_type,
            config=config,
            source="budpipeline",
            source_id=ctx.execution_id,
            name=name,
            timeout_seconds=timeout_seconds,
        )
        services.job_execute(job_id=job.pk)
    except (ActionInputError, ServiceValidationError) as exc:
        return ActionResult(success=False, error=str(exc))
    return ActionResult(
        success=True,
        awaiting_event=True,
        external_workflow_id=str(job.pk),
        timeout_seconds=job.timeout_seconds,
        outputs={
            "job_id": str(job.pk),
            "status": "deploying",
            "namespace": job.config.get("namespace"),
            "release_name": job.config.get("release_name", ""),
        },
    )


def job_event_result(ctx: EventContext, outputs_from_result) -> EventResult:
    """How a job event ends the step: COMPLETED → outputs; FAILED (or cancelled / timed out) → the job's error."""
    event_type = ctx.event_type or ctx.event_data.get("type", "")
    payload = ctx.event_data.get("payload") or {}
    content = payload.get("content") or {}
    status = content.get("status", payload.get("status", ""))
    if event_type == EventType.JOB_COMPLETED and status == JobStatus.COMPLETED:
        outputs = {"job_id": ctx.external_workflow_id, **outputs_from_result(content.get("result") or {})}
        return EventResult(action=EventAction.COMPLETE, status=StepStatus.COMPLETED, outputs=outputs)
    if event_type == EventType.JOB_FAILED or status in (JobStatus.FAILED, JobStatus.TIMEOUT, JobStatus.CANCELLED):
        error = payload.get("error") or f"cluster job {status.lower() or 'failed'}"
        return EventResult(
            action=EventAction.COMPLETE,
            status=StepStatus.FAILED,
            error=error,
            outputs={"job_id": ctx.external_workflow_id, "status": "failed"},
        )
    return EventResult(action=EventAction.IGNORE)


def deploy_outputs(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "namespace": result.get("namespace", ""),
        "release_name": result.get("release_name", ""),
        "endpoint_url": result.get("endpoint_url") or "",
        "access_url": result.get("access_url") or "",
        "access_kind": result.get("access_kind") or "",
        "services": result.get("services", []),
        "status": "running",
    }


def cancel_job(ctx: ActionContext) -> None:
    """Cancel the step's job; one that already finished or never existed is left alone."""
    if not ctx.external_workflow_id:
        return
    try:
        services.job_cancel(job_id=ctx.external_workflow_id)
    except (ConflictError, Job.DoesNotExist, ValueError):
        pass


def validate_deploy_params(params: dict[str, Any]) -> list[str]:
    """Checks that can run before the step does (Jinja strings are skipped until rendered)."""
    errors = []
    for key in ("release_name", "namespace"):
        value = params.get(key)
        if value and not is_template(value):
            try:
                label = validators.dns_label(value)
            except ValueError:
                label = ""
            if not validators.is_dns_label(label):
                errors.append(f"{key}: {value!r} is not a valid Kubernetes name")
            elif key == "namespace" and not validators.is_deployment_namespace(label):
                errors.append(f"namespace: {value!r} is not a deployment namespace (uc-<8 hex>)")
    values = params.get("values")
    if values is not None and not is_template(values):
        if not isinstance(values, dict):
            errors.append("values: must be a mapping")
        else:
            errors += [e["msg"] for e in validators.find_blocked_values(values, loc=("values",))]
    return errors


class JobAction(Action):
    """An event-driven action that runs one cluster job and finishes when the job's event arrives."""

    def outputs_from_result(self, result: dict[str, Any]) -> dict[str, Any]:
        return deploy_outputs(result)

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        return super().validate_params(params) + validate_deploy_params(params)

    def validate_references(self, params: dict[str, Any], owner: Any) -> list[str]:
        return validate_references(params, owner)

    def on_event(self, ctx: EventContext) -> EventResult:
        return job_event_result(ctx, self.outputs_from_result)

    def cancel(self, ctx: ActionContext) -> None:
        cancel_job(ctx)
