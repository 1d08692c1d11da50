"""The legacy path (``USE_PIPELINE_ORCHESTRATION=false``): no pipeline, one cluster job per
component, strictly one after another in wave order; ``POST …/sync`` polls the jobs and starts the next.

Values are rendered here with the same sandboxed Jinja as the engine, from the outputs of the components
already running, so templates that reference ``steps.X.outputs`` work on this path too.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from budportal.errors import ConflictError, ServiceValidationError
from clusterjobs import services as cluster_services
from clusterjobs.models import Job, JobStatus, JobType
from pipelines.models import StepStatus
from pipelines.params import RenderError, render
from usecases.actions.deployment_create import COMPONENT_TYPE_TO_JOB_TYPE
from usecases.dag import effective_chart, included_waves, release_name, template_from_snapshot
from usecases.models.deployments import ComponentDeployment, ComponentStatus, DeploymentStatus, UseCaseDeployment

S, C = DeploymentStatus, ComponentStatus
JOB_SOURCE = "budusecases"


def _ordered(deployment: UseCaseDeployment) -> list[ComponentDeployment]:
    template = template_from_snapshot(deployment.template_snapshot)
    # A fresh query: ``deployment.components.all()`` may be a prefetched, now stale, list.
    rows = {c.component_name: c for c in ComponentDeployment.objects.filter(deployment=deployment)}
    return [rows[name] for wave in included_waves(template, set(rows)) for name in wave]


def _context(deployment: UseCaseDeployment, rows: list[ComponentDeployment]) -> dict[str, Any]:
    steps = {
        c.component_name: {"outputs": c.outputs, "status": StepStatus.COMPLETED} for c in rows if c.status == C.RUNNING
    }
    return {
        "steps": steps,
        "parameters": deployment.parameters,
        "params": deployment.parameters,
        "deployment": deployment.deployment_context,
    }


def _job_config(deployment: UseCaseDeployment, component: ComponentDeployment, context: dict) -> dict[str, Any]:
    template = template_from_snapshot(deployment.template_snapshot)
    chart = effective_chart(template.component(component.component_name), component.selected_component)
    return {
        "chart_ref": chart["ref"],
        "chart_version": chart["version"],
        "release_name": release_name(deployment.name, component.component_name),
        "namespace": deployment.namespace,
        "values": render(chart["values"], context, ("values",)),
        "deployment_id": str(deployment.pk),
        "component_name": component.component_name,
    }


def _fail(deployment: UseCaseDeployment, component: ComponentDeployment, error: str) -> None:
    now = timezone.now()
    ComponentDeployment.objects.filter(pk=component.pk, status__in=(C.PENDING, C.DEPLOYING)).update(
        status=C.FAILED, error=error, completed_at=now
    )
    UseCaseDeployment.objects.filter(pk=deployment.pk, status=S.DEPLOYING).update(
        status=S.FAILED, error=f"component {component.component_name!r} failed: {error}", completed_at=now
    )


def _launch(deployment: UseCaseDeployment, component: ComponentDeployment, rows: list[ComponentDeployment]) -> None:
    try:
        config = _job_config(deployment, component, _context(deployment, rows))
        job = cluster_services.job_create(
            owner=deployment.owner,
            cluster=deployment.cluster,
            config=config,
            source=JOB_SOURCE,
            job_type=COMPONENT_TYPE_TO_JOB_TYPE.get(component.component_type, JobType.USECASE_COMPONENT),
            source_id=str(deployment.pk),
            name=f"{deployment.name}-{component.component_name}",
        )
        cluster_services.job_execute(job_id=job.pk)
    except (RenderError, ServiceValidationError) as exc:
        _fail(deployment, component, str(exc))
        return
    ComponentDeployment.objects.filter(pk=component.pk).update(
        status=C.DEPLOYING, job_id=str(job.pk), release_name=config["release_name"], started_at=timezone.now()
    )


def _refresh_from_job(component: ComponentDeployment) -> None:
    job = Job.objects.filter(pk=component.job_id).first()
    if job is None or not job.is_finished:
        return
    now = timezone.now()
    open_rows = ComponentDeployment.objects.filter(pk=component.pk, status=C.DEPLOYING)
    if job.status == JobStatus.COMPLETED:
        result = job.result or {}
        outputs = {**result, "job_id": str(job.pk), "status": "running"}
        open_rows.update(
            status=C.RUNNING, endpoint_url=result.get("endpoint_url") or "", outputs=outputs, completed_at=now
        )
    else:
        open_rows.update(status=C.FAILED, error=job.error or f"job {job.status.lower()}", completed_at=now)


def _advance(deployment: UseCaseDeployment) -> None:
    """Start the first component that is not running yet, or finish the deployment."""
    rows = _ordered(deployment)
    for component in rows:
        if component.status == C.RUNNING:
            continue
        if component.status == C.FAILED:
            _fail(deployment, component, component.error)
        elif not component.job_id:
            _launch(deployment, component, rows)
        return
    UseCaseDeployment.objects.filter(pk=deployment.pk, status=S.DEPLOYING).update(
        status=S.RUNNING, completed_at=timezone.now()
    )


def legacy_start(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    with transaction.atomic():
        won = UseCaseDeployment.objects.filter(pk=deployment.pk, status=S.PENDING).update(
            status=S.DEPLOYING, started_at=timezone.now(), error=""
        )
        if not won:
            raise ConflictError(f"deployment is {deployment.status}; only a pending deployment can be started")
        deployment.components.filter(status=C.PENDING).update(status=C.DEPLOYING)
        _advance(deployment)
    deployment.refresh_from_db()
    return deployment


def legacy_sync(*, deployment: UseCaseDeployment) -> None:
    """Poll the running component's job and, when it is done, start the next one."""
    with transaction.atomic():
        for component in deployment.components.filter(status=C.DEPLOYING).exclude(job_id=""):
            _refresh_from_job(component)
        _advance(deployment)


def legacy_retry(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Failed and never-run components get a new job; running ones are kept."""
    with transaction.atomic():
        won = UseCaseDeployment.objects.filter(pk=deployment.pk, status=S.FAILED).update(
            status=S.DEPLOYING, error="", completed_at=None
        )
        if not won:
            raise ConflictError(f"deployment is {deployment.status}; only a failed deployment can be retried")
        deployment.components.exclude(status=C.RUNNING).update(
            status=C.DEPLOYING, job_id="", error="", completed_at=None
        )
        _advance(deployment)
    deployment.refresh_from_db()
    return deployment


def legacy_cancel_jobs(*, deployment: UseCaseDeployment) -> None:
    for job_id in deployment.components.filter(status=C.DEPLOYING).exclude(job_id="").values_list("job_id", flat=True):
        try:
            cluster_services.job_cancel(job_id=job_id)
        except ConflictError:
            pass  # already finished
