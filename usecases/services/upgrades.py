"""Writes that change a deployment after its first install (Day 2): edit a draft (PATCH), apply a revision
(upgrade), roll back, repair after a failure, start a stopped deployment again.

Each apply is a new numbered revision with the inputs it applies; it runs the same DAG as the first install
(``usecases.dag``) in waves, with ``helm upgrade --install --atomic`` for each component whose chart or values
changed and a ``set_output`` step (no Helm call) republishing the recorded outputs of each one that did not.
An apply starts with a compare-and-set of the deployment's status (running / failed / stopped → deploying),
so of two concurrent applies one wins and the other gets 409.

Rollback re-applies the recorded inputs of the chosen revision as a new revision rather than running
``helm rollback``: a revision spans several releases, some of which it skipped, and the releases' own
histories do not survive a stop; the recorded inputs are exact in every case (README, "Day 2").
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from budportal.errors import ConflictError, ServiceValidationError
from clusterjobs.crypto import mask_tree
from pipelines.models import Event
from pipelines.services import execution_submit
from usecases.dag import Inputs, deployment_inputs
from usecases.models.deployments import (
    ComponentStatus,
    DeploymentRevision,
    DeploymentStatus,
    RevisionKind,
    RevisionStatus,
    UseCaseDeployment,
)
from usecases.plans import plan_change, recorded_components, running_components
from usecases.selectors.templates import template_visible_qs
from usecases.services import deployments, revisions
from usecases.validation.deployments import clean_update

S, R = DeploymentStatus, RevisionStatus
APPLICABLE_FROM = (S.RUNNING, S.FAILED, S.STOPPED)


def draft_of(deployment: UseCaseDeployment) -> DeploymentRevision | None:
    return deployment.revisions.filter(status=R.DRAFT).first()


def _newer_template(deployment: UseCaseDeployment) -> dict[str, Any]:
    template = (
        template_visible_qs(user=deployment.owner).filter(pk=deployment.template_id).first()
        if deployment.template_id
        else None
    )
    if template is None:
        raise ServiceValidationError.at(("upgrade_template",), "the template is gone or no longer visible to you")
    return template.to_document()


def _write_inputs(deployment: UseCaseDeployment, inputs: Inputs) -> None:
    """The deployment's current inputs become ``inputs`` (what ``build_dag`` reads)."""
    snapshot = inputs.template_snapshot
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(
        template_snapshot=snapshot,
        template_version=str(snapshot.get("version") or deployment.template_version),
        parameters=inputs.parameters,
        value_overrides=inputs.value_overrides,
    )
    for name, choice in inputs.selections.items():
        deployment.components.filter(component_name=name).update(selected_component=choice)
    deployment.refresh_from_db()


def deployment_update(
    *,
    deployment: UseCaseDeployment,
    user: Any,
    parameters: dict[str, Any] | None = None,
    components: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    secret_values: dict[str, Any] | None = None,
    upgrade_template: bool = False,
) -> DeploymentRevision | None:
    """``PATCH``: new parameters, slot choices and per-component value overrides, validated (422 with the path
    of each problem) before anything runs. A pending deployment takes them at once (None); otherwise they go
    into the deployment's one draft revision, made from the current inputs, which ``…/apply`` applies."""
    if deployment.status in (S.DELETING, S.STOPPING):
        raise ConflictError(f"deployment is {deployment.status}; it cannot be changed")
    draft = draft_of(deployment)
    base = revisions.revision_inputs(draft) if draft else deployment_inputs(deployment)
    snapshot = _newer_template(deployment) if upgrade_template else None
    inputs = clean_update(
        current=base,
        snapshot=snapshot,
        components=components,
        parameters=parameters,
        values=values,
        secrets=secret_values,
    )
    if deployment.status == S.PENDING:
        _write_inputs(deployment, inputs)
        return None
    changes = revisions.describe_changes(deployment_inputs(deployment), inputs)
    with transaction.atomic():
        if draft is not None:
            draft.delete()
        return revisions.revision_new(
            deployment=deployment,
            kind=RevisionKind.UPGRADE,
            inputs=inputs,
            user=user,
            status=R.DRAFT,
            source_revision=deployment.live_revision or None,
            changes=changes,
        )


def deployment_discard_draft(*, deployment: UseCaseDeployment) -> None:
    deployment.revisions.filter(status=R.DRAFT).delete()


def _event_mark() -> int:
    return Event.objects.aggregate(mark=Max("id"))["mark"] or 0


def _submit(
    deployment: UseCaseDeployment, revision: DeploymentRevision, plan: dict[str, Any], keep: dict[str, Any]
) -> None:
    """Inside the caller's transaction, after the status compare-and-set: submit the DAG, point the deployment
    at the new execution and inputs, and mark the components that will be upgraded as deploying."""
    inputs = revisions.revision_inputs(revision)
    running = running_components(deployment)
    execution = execution_submit(
        dag=plan["dag"], owner=deployment.owner, parameters=inputs.parameters, deployment_id=deployment.pk
    )
    _write_inputs(deployment, inputs)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(pipeline_execution_id=str(execution.pk))
    deployment.components.exclude(component_name__in=list(keep)).update(
        status=ComponentStatus.DEPLOYING, error="", completed_at=None, last_event_id=deployment.last_event_id
    )
    revisions.revision_submitted(
        revision=revision,
        dag=plan["dag"],
        execution_id=str(execution.pk),
        components=recorded_components(plan, keep, running),
    )


def _apply(
    deployment: UseCaseDeployment,
    *,
    inputs: Inputs,
    user: Any,
    kind: str,
    draft: DeploymentRevision | None = None,
    source_revision: int | None = None,
    force: bool = False,
) -> DeploymentRevision:
    if deployment.cluster_id is None:
        raise ConflictError("the deployment's cluster was deleted")
    if not deployment.uses_pipeline:
        raise ConflictError("this deployment was installed without pipeline orchestration and cannot be changed")
    plan = plan_change(deployment=deployment, inputs=inputs, with_manifests=False, force=force)
    keep = {step["id"]: step["params"]["values"] for step in plan["dag"]["steps"] if step["action"] == "set_output"}
    changes = revisions.describe_changes(deployment_inputs(deployment), inputs)
    mark = _event_mark()
    with transaction.atomic():
        won = deployments.transition(
            deployment,
            APPLICABLE_FROM,
            S.DEPLOYING,
            error="",
            completed_at=None,
            started_at=timezone.now(),
            cleanup_execution_id="",
            last_event_id=mark,
        )
        if not won:
            raise ConflictError(f"deployment is {deployment.status}; wait until the current apply has finished")
        if draft is not None:
            if not DeploymentRevision.objects.filter(pk=draft.pk, status=R.DRAFT).update(
                status=R.APPLYING, kind=kind, changes=changes, created_by=user
            ):
                raise ConflictError("the draft was applied or replaced meanwhile")
            draft.refresh_from_db()
            revision = draft
        else:
            revision = revisions.revision_new(
                deployment=deployment,
                kind=kind,
                inputs=inputs,
                user=user,
                source_revision=source_revision,
                changes=changes,
            )
        _submit(deployment, revision, plan, keep)
    revision.refresh_from_db()
    return revision


def _revision(deployment: UseCaseDeployment, number: int) -> DeploymentRevision:
    revision = deployment.revisions.filter(number=number).first()
    if revision is None:
        raise Http404(f"deployment has no revision {number}")
    return revision


def deployment_apply(
    *, deployment: UseCaseDeployment, revision: int | None = None, user: Any, force: bool = False
) -> DeploymentRevision:
    """Apply a revision: the draft (default) becomes a new applied revision; a recorded revision's inputs are
    applied again as a new revision (the current one: a resync; ``force`` upgrades even unchanged components).
    409 while another apply, stop or delete is running."""
    if revision is None:
        draft = draft_of(deployment)
        if draft is None:
            raise ConflictError("there is no draft to apply; PATCH the deployment first")
        return _apply(
            deployment, inputs=revisions.revision_inputs(draft), user=user, kind=_draft_kind(deployment), draft=draft
        )
    target = _revision(deployment, revision)
    if target.status == R.DRAFT:
        return _apply(
            deployment, inputs=revisions.revision_inputs(target), user=user, kind=_draft_kind(deployment), draft=target
        )
    kind = RevisionKind.REPAIR if target.number == deployment.live_revision else RevisionKind.ROLLBACK
    return _apply(
        deployment,
        inputs=revisions.revision_inputs(target),
        user=user,
        kind=kind,
        source_revision=target.number,
        force=force,
    )


def _draft_kind(deployment: UseCaseDeployment) -> str:
    if deployment.status == S.STOPPED:
        return RevisionKind.RESTART
    return RevisionKind.REPAIR if deployment.status == S.FAILED else RevisionKind.UPGRADE


def deployment_rollback(*, deployment: UseCaseDeployment, revision: int, user: Any) -> DeploymentRevision:
    """Re-apply revision ``revision``'s recorded inputs as a new revision (see the module docstring)."""
    target = _revision(deployment, revision)
    if target.status in (R.DRAFT, R.APPLYING):
        raise ServiceValidationError.at(("revision",), f"revision {revision} is {target.status}; choose an applied one")
    return _apply(
        deployment,
        inputs=revisions.revision_inputs(target),
        user=user,
        kind=RevisionKind.ROLLBACK,
        source_revision=target.number,
    )


def deployment_repair(*, deployment: UseCaseDeployment, user: Any) -> UseCaseDeployment:
    """Retry after a failure. With a draft (values edited after the failure) the draft is applied as a new
    revision; a failed first install without one resumes its execution (``deployment_retry``); a running
    deployment whose last apply failed applies that revision's inputs again."""
    draft = draft_of(deployment)
    latest = deployment.revisions.exclude(status=R.DRAFT).order_by("-number").first()
    if draft is not None and deployment.status in (S.FAILED, S.RUNNING):
        _apply(deployment, inputs=revisions.revision_inputs(draft), user=user, kind=RevisionKind.REPAIR, draft=draft)
    elif deployment.status == S.FAILED:
        return deployments.deployment_retry(deployment=deployment)
    elif latest is not None and latest.status == R.FAILED and deployment.status == S.RUNNING:
        _apply(
            deployment,
            inputs=revisions.revision_inputs(latest),
            user=user,
            kind=RevisionKind.REPAIR,
            source_revision=latest.number,
        )
    else:
        raise ConflictError(f"deployment is {deployment.status} and its last apply did not fail; nothing to retry")
    deployment.refresh_from_db()
    return deployment


def deployment_start_any(*, deployment: UseCaseDeployment, user: Any) -> UseCaseDeployment:
    """Start: a pending deployment's first install, or a stopped one again as a new revision from its last
    inputs (or its draft)."""
    if deployment.status != S.STOPPED:
        return deployments.deployment_start(deployment=deployment)
    draft = draft_of(deployment)
    inputs = revisions.revision_inputs(draft) if draft else deployment_inputs(deployment)
    _apply(
        deployment,
        inputs=inputs,
        user=user,
        kind=RevisionKind.RESTART,
        draft=draft,
        source_revision=deployment.live_revision or None,
    )
    deployment.refresh_from_db()
    return deployment


def deployment_change_plan(*, deployment: UseCaseDeployment, revision: str) -> dict[str, Any]:
    """The plan of applying the draft (``revision="draft"``) or a recorded revision's inputs now."""
    if revision == "draft":
        target = draft_of(deployment)
        if target is None:
            raise Http404("the deployment has no draft; PATCH it first")
    else:
        try:
            number = int(revision)
        except ValueError:
            raise ServiceValidationError.at(("query", "revision"), "must be 'draft' or a revision number") from None
        target = _revision(deployment, number)
    plan = plan_change(deployment=deployment, inputs=revisions.revision_inputs(target))
    plan["revision"] = target.number
    return mask_tree(plan)
