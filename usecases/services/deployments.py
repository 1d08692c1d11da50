"""Writes for use-case deployments: create, start, stop, retry, delete, sync; and the state changes the
pipeline listener asks for. The only place that changes a deployment or its components.

Every transition is a compare-and-set on the current status (``_transition``), so two requests, a retried
task or a duplicate event cannot both win. Data flow (docs/architecture.md): start builds the DAG and submits it; the
engine's events on ``budusecasesEvents`` come back through ``usecases.listener`` into the ``*_apply_*``
functions below; stop cancels the execution and records a ``helm_uninstall`` cleanup run.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from budportal.errors import ConflictError, ServiceValidationError
from clusterjobs.crypto import mask_tree
from clusterjobs.failures import explain
from clusterjobs.models import Job, JobType
from clusterjobs.validators import deployment_namespace
from pipelines.events import EventType
from pipelines.models import Event, ExecutionStatus, PipelineExecution, StepStatus
from pipelines.notifications import notification_create
from pipelines.services import execution_cancel, execution_progress, execution_retry, execution_submit
from usecases import legacy
from usecases.dag import build_cleanup_dag, build_plan, deployment_inputs, release_name
from usecases.models.deployments import (
    ComponentDeployment,
    ComponentStatus,
    DeploymentRevision,
    DeploymentStatus,
    RevisionKind,
    UseCaseDeployment,
)
from usecases.plans import recorded_components
from usecases.services import revisions
from usecases.validation.deployments import clean_request, with_helm_options

logger = logging.getLogger(__name__)

S, C = DeploymentStatus, ComponentStatus
STOPPABLE = (S.DEPLOYING, S.RUNNING)
COMPONENT_OPEN = (C.PENDING, C.DEPLOYING)
# Step event type → component status (docs/architecture.md, Statuses).
STEP_EVENT_STATUS: dict[str, ComponentStatus] = {
    EventType.STEP_STARTED: C.DEPLOYING,
    EventType.STEP_AWAITING_EVENT: C.DEPLOYING,
    EventType.STEP_RETRYING: C.DEPLOYING,
    EventType.STEP_COMPLETED: C.RUNNING,
    EventType.STEP_FAILED: C.FAILED,
}
# A step the engine cancelled (stop, or a dependency failed) or skipped never installed anything.
NOT_RUN_STEP_STATUSES = (StepStatus.CANCELLED, StepStatus.SKIPPED)


def transition(deployment: UseCaseDeployment, allowed: tuple[str, ...], to: str, **fields: Any) -> bool:
    """Compare-and-set ``allowed`` → ``to``; updates ``deployment`` in place when it wins."""
    fields["updated_at"] = timezone.now()
    won = UseCaseDeployment.objects.filter(pk=deployment.pk, status__in=allowed).update(status=to, **fields)
    if won:
        deployment.refresh_from_db()
    return bool(won)


def failure_cause(deployment: UseCaseDeployment, error: str) -> str:
    """The one-line cause a notification carries (never the raw Helm output): the first failed component's,
    since the execution's own error only says which steps failed."""
    failed = deployment.components.filter(status=C.FAILED).exclude(error="").order_by("position").first()
    if failed is None:
        return explain(error).cause
    job = Job.objects.filter(pk=failed.job_id or None).only("config").first()
    timeout = (job.config.get("timeout") if job else None) or settings.HELM_DEFAULT_TIMEOUT_SECONDS
    return f"{failed.component_name}: {explain(failed.error, timeout_seconds=timeout).cause}"


def _notify(deployment: UseCaseDeployment, message: str, level: str) -> None:
    notification_create(
        user=deployment.owner,
        message=message,
        level=level,
        title=f"Deployment {deployment.name}",
        link=reverse("usecases:deployment-detail", args=[deployment.pk]),
    )


# --- create ----------------------------------------------------------------------------------------
def deployment_create(
    *,
    owner,
    name: str,
    template: str,
    cluster_id: Any,
    components: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    notify_webhook_url: str = "",
    helm: dict[str, dict[str, Any]] | None = None,
) -> UseCaseDeployment:
    """A PENDING deployment with one PENDING component per included slot (422 naming each wrong field).
    ``helm``: per component, Helm options over the template's (kept in the deployment's template snapshot)."""
    request = clean_request(
        owner=owner,
        name=name,
        template=template,
        cluster_id=cluster_id,
        components=components or {},
        parameters=parameters or {},
        notify_webhook_url=notify_webhook_url or "",
    )
    the_template = request.template
    deployment = UseCaseDeployment(
        name=name,
        owner=owner,
        template=the_template,
        template_name=the_template.name,
        template_version=the_template.version,
        template_snapshot=with_helm_options(the_template.to_document(), helm or {}),
        cluster=request.cluster,
        parameters=request.parameters,
        notify_webhook_url=notify_webhook_url or "",
    )
    deployment.namespace = deployment_namespace(deployment.pk)
    positions = {c["name"]: i for i, c in enumerate(the_template.components)}
    try:
        with transaction.atomic():
            deployment.save()
            ComponentDeployment.objects.bulk_create(
                [
                    ComponentDeployment(
                        deployment=deployment,
                        component_name=slot,
                        selected_component=choice,
                        component_type=the_template.component(slot)["type"],
                        position=positions[slot],
                        release_name=release_name(name, slot),
                    )
                    for slot, choice in request.selections.items()
                ]
            )
    except IntegrityError:  # a concurrent create with the same name
        raise ServiceValidationError.at(["name"], f"you already have a deployment named '{name}'") from None
    return deployment


# --- start -----------------------------------------------------------------------------------------
def deployment_start(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Build the DAG and submit it; deployment and components → deploying, in one transaction (409 unless
    pending: a second concurrent start loses the compare-and-set and nothing is submitted twice)."""
    if deployment.cluster_id is None:
        raise ConflictError("the deployment's cluster was deleted")
    if not settings.USE_PIPELINE_ORCHESTRATION:
        return legacy.legacy_start(deployment=deployment)
    with transaction.atomic():
        if not transition(deployment, (S.PENDING,), S.DEPLOYING, started_at=timezone.now(), error=""):
            raise ConflictError(f"deployment is {deployment.status}; only a pending deployment can be started")
        inputs = deployment_inputs(deployment)
        plan = build_plan(deployment=deployment, inputs=inputs)
        execution = execution_submit(
            dag=plan["dag"], owner=deployment.owner, parameters=deployment.parameters, deployment_id=deployment.pk
        )
        UseCaseDeployment.objects.filter(pk=deployment.pk).update(pipeline_execution_id=str(execution.pk))
        revisions.revision_submitted(
            revision=revisions.revision_new(
                deployment=deployment,
                kind=RevisionKind.INSTALL,
                inputs=inputs,
                user=deployment.owner,
                changes=["first install"],
            ),
            dag=plan["dag"],
            execution_id=str(execution.pk),
            components=recorded_components(plan, keep={}, running=set()),
        )
        deployment.components.filter(status=C.PENDING).update(status=C.DEPLOYING)
    deployment.refresh_from_db()
    return deployment


# --- retry -----------------------------------------------------------------------------------------
def _event_mark() -> int:
    """The newest event id: events up to here belong to the attempt being retried and are ignored after."""
    return Event.objects.aggregate(mark=Max("id"))["mark"] or 0


def deployment_retry(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Resume a failed deployment: running components are kept, failed and never-run ones run again."""
    if deployment.cleanup_execution_id:
        raise ConflictError("stopping this deployment failed; delete it (which uninstalls again) instead")
    if not deployment.uses_pipeline:
        return legacy.legacy_retry(deployment=deployment)
    mark = _event_mark()
    with transaction.atomic():
        if not transition(deployment, (S.FAILED,), S.DEPLOYING, error="", completed_at=None, last_event_id=mark):
            raise ConflictError(f"deployment is {deployment.status}; only a failed deployment can be retried")
        deployment.components.exclude(status=C.RUNNING).update(
            status=C.DEPLOYING, error="", completed_at=None, last_event_id=mark
        )
        execution_retry(execution_id=deployment.pipeline_execution_id)
    deployment.refresh_from_db()
    return deployment


# --- stop and delete -------------------------------------------------------------------------------
def installed_releases(deployment: UseCaseDeployment) -> list[str]:
    """Every release a job of this deployment tried to install (cancelled ones included: uninstalling a
    release that never landed is harmless, leaving one behind is not)."""
    sources = [s for s in (deployment.pipeline_execution_id, str(deployment.pk)) if s]
    # Only the owner's jobs: job_create refuses another user's deployment id, and this would not trust it anyway.
    jobs = Job.objects.filter(source_id__in=sources, owner=deployment.owner).exclude(job_type=JobType.HELM_UNINSTALL)
    names = {(job.config or {}).get("release_name") for job in jobs}
    names |= set(deployment.components.exclude(job_id="").values_list("release_name", flat=True))
    return sorted(n for n in names if n)


def _cancel_work(deployment: UseCaseDeployment) -> None:
    """Cancel the deploy execution (or, legacy, its jobs). One that already finished is fine."""
    if not deployment.uses_pipeline:
        legacy.legacy_cancel_jobs(deployment=deployment)
        return
    try:
        execution_cancel(execution_id=deployment.pipeline_execution_id)
    except ConflictError:
        pass  # finished already: nothing left to cancel


def _start_cleanup(deployment: UseCaseDeployment) -> None:
    """Submit the ``helm_uninstall`` run of every installed release; finish at once when there is none."""
    releases = installed_releases(deployment)
    if not releases:
        cleanup_finished(deployment=deployment, ok=True)
        return
    try:
        execution = execution_submit(
            dag=build_cleanup_dag(deployment=deployment, releases=releases),
            owner=deployment.owner,
            deployment_id=deployment.pk,
        )
    except ServiceValidationError as exc:
        cleanup_finished(deployment=deployment, ok=False, error=f"could not start the uninstall: {exc}")
        return
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(cleanup_execution_id=str(execution.pk))
    deployment.cleanup_execution_id = str(execution.pk)


def _stop_now(deployment: UseCaseDeployment) -> None:
    try:
        _cancel_work(deployment)
    except Exception as exc:  # noqa: BLE001 - the deployment must say why, never look stopped
        logger.exception("cancelling deployment %s failed", deployment.pk)
        cleanup_finished(deployment=deployment, ok=False, error=f"could not cancel the deployment: {exc}")
        return
    _start_cleanup(deployment)


def deployment_stop(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Cancel, then uninstall every release and remove the namespace: stopping → stopped (or failed with the
    reason). 409 unless deploying or running."""
    with transaction.atomic():
        if not transition(deployment, STOPPABLE, S.STOPPING, error=""):
            raise ConflictError(f"deployment is {deployment.status}; only a deploying or running one can be stopped")
        revisions.revision_cancel_open(deployment=deployment)
        _stop_now(deployment)
    deployment.refresh_from_db()
    return deployment


def deployment_delete(*, deployment: UseCaseDeployment) -> bool:
    """Delete; True when the rows are gone now, False when an uninstall runs first (state ``deleting``)."""
    with transaction.atomic():
        if deployment.status in (S.PENDING, S.STOPPED) or (
            deployment.status == S.FAILED and not installed_releases(deployment)
        ):
            if UseCaseDeployment.objects.filter(pk=deployment.pk, status=deployment.status).delete()[0]:
                return True
            raise ConflictError("the deployment changed while deleting it; try again")
        if transition(deployment, (S.STOPPING,), S.DELETING):
            return False  # the uninstall already running removes the rows when it finishes
        if not transition(deployment, (*STOPPABLE, S.FAILED), S.DELETING, error=""):
            raise ConflictError(f"deployment is {deployment.status}; it cannot be deleted now")
        _stop_now(deployment)
    return not UseCaseDeployment.objects.filter(pk=deployment.pk).exists()


def cleanup_finished(*, deployment: UseCaseDeployment, ok: bool, error: str = "") -> None:
    """The uninstall run ended: rows removed (deleting), stopped (components too; failed ones stay failed),
    or failed with the reason — never silently stopped with releases left behind."""
    now = timezone.now()
    if not ok:
        if transition(deployment, (S.STOPPING, S.DELETING), S.FAILED, error=f"stop failed: {error}", completed_at=now):
            _notify(deployment, f"Stopping use case '{deployment.name}' failed: {explain(error).cause}", "error")
        return
    if UseCaseDeployment.objects.filter(pk=deployment.pk, status=S.DELETING).delete()[0]:
        return
    # One transaction: a page rendered in between would show the deployment stopped (and close its stream)
    # with its components still running.
    with transaction.atomic():
        if transition(deployment, (S.STOPPING,), S.STOPPED, completed_at=now):
            # Only what was installed (or installing) was stopped; a component whose wave never started was not,
            # and stays pending rather than being labelled "stopped".
            started = deployment.components.exclude(status=C.FAILED).exclude(started_at=None)
            started.update(status=C.STOPPED, completed_at=now)
            deployment.components.filter(started_at=None).exclude(status=C.FAILED).update(status=C.PENDING)


# --- what the pipeline listener applies ------------------------------------------------------------
def _component_fields(target: str, outputs: dict[str, Any], error: str) -> dict[str, Any]:
    now = timezone.now()
    fields: dict[str, Any] = {"status": target, "started_at": Coalesce(F("started_at"), now)}
    for key in ("job_id", "release_name"):
        if outputs.get(key):
            fields[key] = str(outputs[key])
    if target == C.RUNNING:
        fields.update(endpoint_url=str(outputs.get("endpoint_url") or ""), outputs=outputs, error="", completed_at=now)
    elif target in (C.FAILED, C.STOPPED):
        fields.update(error=error or "", completed_at=now)
    return fields


def component_apply_step_event(
    *,
    deployment: UseCaseDeployment,
    component_name: str,
    event_type: str,
    step_status: str,
    outputs: dict[str, Any],
    error: str,
    event_id: int,
) -> bool:
    """A step event moves its component forward only: pending/deploying → deploying/running/failed/stopped.
    An event older than one already applied is ignored, so late and duplicate events are harmless."""
    target = STEP_EVENT_STATUS.get(event_type)
    if target is None:
        return False
    if step_status in NOT_RUN_STEP_STATUSES:
        target = C.STOPPED
    fields = _component_fields(target, outputs or {}, error)
    if target == C.STOPPED and event_type == "step_failed":
        fields.pop("started_at")  # a cancelled step may never have started
    return bool(
        ComponentDeployment.objects.filter(
            deployment=deployment,
            component_name=component_name,
            status__in=COMPONENT_OPEN,
            last_event_id__lt=event_id,
        ).update(last_event_id=event_id, **fields)
    )


def deployment_apply_execution_finished(
    *, deployment: UseCaseDeployment, status: str, error: str, event_id: int
) -> None:
    """The deploy execution ended: running, failed (with the failing step's error), or — cancelled outside
    this deployment's own stop — stopped through the same uninstall as a stop."""
    if deployment.last_event_id >= event_id:
        return
    now = timezone.now()
    execution_id = deployment.pipeline_execution_id
    if status == ExecutionStatus.COMPLETED:
        with transaction.atomic():
            if transition(deployment, (S.DEPLOYING,), S.RUNNING, completed_at=now, last_event_id=event_id):
                revisions.revision_finish(deployment=deployment, execution_id=execution_id, ok=True)
    elif status in (ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT):
        message = error or f"pipeline execution {status.lower()}"
        with transaction.atomic():
            revision = revisions.revision_finish(
                deployment=deployment, execution_id=execution_id, ok=False, error=message
            )
            if revision is not None and _keep_live(deployment, revision, message, event_id):
                return
            if transition(
                deployment, (S.DEPLOYING,), S.FAILED, error=message, completed_at=now, last_event_id=event_id
            ):
                cause = failure_cause(deployment, message)
                _notify(deployment, f"Use case '{deployment.name}' failed: {cause}", "error")
    elif status == ExecutionStatus.CANCELLED:
        with transaction.atomic():
            revisions.revision_cancel_open(deployment=deployment)
            if transition(deployment, STOPPABLE, S.STOPPING, last_event_id=event_id):
                _start_cleanup(deployment)


def _keep_live(deployment: UseCaseDeployment, revision: DeploymentRevision, message: str, event_id: int) -> bool:
    """A failed upgrade of a deployment that was running: ``--atomic`` rolled the failing release back and
    the components that never ran were not touched, so the previous revision still runs. The deployment stays
    running and says so; the components that ran before are running again. False for a first install."""
    before = [name for name, entry in (revision.components or {}).items() if entry.get("previous")]
    if not before or not deployment.live_revision:
        return False
    live = deployment.live_revision
    text = f"revision {revision.number} failed: {message}; revision {live} is still live"
    now = timezone.now()
    with transaction.atomic():
        if not transition(deployment, (S.DEPLOYING,), S.RUNNING, error=text, completed_at=now, last_event_id=event_id):
            return True
        for component in deployment.components.filter(component_name__in=before).exclude(status=C.RUNNING):
            note = f"upgrade to revision {revision.number} failed; kept at its previous release. {component.error}"
            ComponentDeployment.objects.filter(pk=component.pk).update(status=C.RUNNING, error=note.strip())
    _notify(deployment, f"Upgrade of '{deployment.name}' failed; revision {live} is still running.", "error")
    return True


# --- sync, plan, progress --------------------------------------------------------------------------
def deployment_sync(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Legacy deployments: poll their jobs and start the next component. Pipeline-managed ones
    are kept current by the listener, so their current state is returned."""
    if deployment.uses_pipeline or deployment.status not in (S.DEPLOYING,):
        return deployment
    legacy.legacy_sync(deployment=deployment)
    deployment.refresh_from_db()
    return deployment


def deployment_plan(*, deployment: UseCaseDeployment) -> dict[str, Any]:
    """The DAG start submits, its waves, and each component's chart values with ``parameters.*`` resolved
    and ``steps.*`` references kept as written (listed in ``pending_refs``)."""
    return mask_tree(build_plan(deployment=deployment))


def _component_rows(deployment: UseCaseDeployment) -> list[dict[str, Any]]:
    fields = ("component_name", "status", "endpoint_url", "error", "release_name")
    return [dict(zip(("name", *fields[1:]), row, strict=True)) for row in deployment.components.values_list(*fields)]


def deployment_progress(*, deployment: UseCaseDeployment) -> dict[str, Any]:
    """Percent, ETA and current step(s) from the execution; component counts for legacy deployments.

    While stopping or deleting, the numbers are the uninstall's (the install run is over and would read
    "100 %, ETA 0 s" with every release still there); before the uninstall run exists, no numbers at all."""
    components = _component_rows(deployment)
    uninstalling = deployment.status in (S.STOPPING, S.DELETING)
    execution_id = deployment.cleanup_execution_id if uninstalling else deployment.pipeline_execution_id
    execution = PipelineExecution.objects.filter(pk=execution_id or None).first()
    if uninstalling and execution is None:
        percent, eta, current = 0.0, None, []
    elif execution is not None:
        progress = execution_progress(execution=execution, with_steps=False)
        percent, eta, current = progress["percent"], progress["eta_seconds"], progress["current_steps"]
    else:
        done = sum(1 for c in components if c["status"] == C.RUNNING)
        percent = round(100.0 * done / len(components), 1) if components else 0.0
        eta, current = None, [c["name"] for c in components if c["status"] == C.DEPLOYING]
    return {
        "deployment_id": str(deployment.pk),
        "status": deployment.status,
        "percent": percent,
        "eta_seconds": eta,
        "current_steps": current,
        "execution_id": deployment.pipeline_execution_id or None,
        "phase": "uninstall" if uninstalling else "install",
        "components": components,
    }
