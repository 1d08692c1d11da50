"""Writes for deployment revisions: record an apply when it is submitted, record its outcome when its
execution ends. Every apply of a deployment — first install, upgrade, rollback, repair, restart — is one
numbered ``DeploymentRevision`` holding the inputs that make it reproducible (template snapshot, parameters,
component choices, value overrides), the DAG, the execution, who and when, and per component the chart
version and Helm revision it produced (read from the job result).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from usecases.dag import Inputs
from usecases.models.deployments import (
    DeploymentRevision,
    RevisionStatus,
    UseCaseDeployment,
)

R = RevisionStatus


def revision_inputs(revision: DeploymentRevision) -> Inputs:
    return Inputs(
        template_snapshot=revision.template_snapshot,
        parameters=dict(revision.parameters or {}),
        selections=dict(revision.selections or {}),
        value_overrides=dict(revision.value_overrides or {}),
    )


def next_number(deployment: UseCaseDeployment) -> int:
    return (deployment.revisions.aggregate(top=Max("number"))["top"] or 0) + 1


def describe_changes(old: Inputs | None, new: Inputs) -> list[str]:
    """What a revision changes compared with ``old`` (the live inputs), one short line per change."""
    if old is None:
        return ["first install"]
    changes = []
    old_version, new_version = old.template_snapshot.get("version"), new.template_snapshot.get("version")
    if old_version != new_version:
        changes.append(f"template version {old_version} → {new_version}")
    for name in sorted(set(old.parameters) | set(new.parameters)):
        if old.parameters.get(name) != new.parameters.get(name):
            changes.append(f"parameter {name}")
    for name in sorted(set(old.selections) | set(new.selections)):
        if old.selections.get(name) != new.selections.get(name):
            changes.append(f"component {name}: {old.selections.get(name)} → {new.selections.get(name)}")
    for name in sorted(set(old.value_overrides) | set(new.value_overrides)):
        if old.value_overrides.get(name) != new.value_overrides.get(name):
            changes.append(f"values of {name}")
    return changes or ["no input changed"]


def revision_new(
    *,
    deployment: UseCaseDeployment,
    kind: str,
    inputs: Inputs,
    user: Any,
    status: str = R.APPLYING,
    source_revision: int | None = None,
    changes: list[str] | None = None,
) -> DeploymentRevision:
    """A revision row (numbered next) with the given inputs; the caller holds the deployment's transition."""
    snapshot = inputs.template_snapshot
    return DeploymentRevision.objects.create(
        deployment=deployment,
        number=next_number(deployment),
        kind=kind,
        status=status,
        template_name=str(snapshot.get("name") or deployment.template_name),
        template_version=str(snapshot.get("version") or deployment.template_version),
        template_snapshot=snapshot,
        parameters=inputs.parameters,
        selections=inputs.selections,
        value_overrides=inputs.value_overrides,
        source_revision=source_revision,
        changes=changes or [],
        created_by=user,
    )


def revision_submitted(
    *, revision: DeploymentRevision, dag: dict[str, Any], execution_id: str, components: dict[str, Any]
) -> None:
    """The revision's DAG was submitted as ``execution_id``; ``components`` says what each component does."""
    DeploymentRevision.objects.filter(pk=revision.pk).update(
        dag=dag, execution_id=execution_id, components=components, applied_at=timezone.now(), status=R.APPLYING
    )
    revision.refresh_from_db()


def _job_results(deployment: UseCaseDeployment, execution_id: str) -> dict[str, dict[str, Any]]:
    """Step id → the result of its newest completed Helm job in this execution."""
    jobs = Job.objects.filter(source_id=execution_id, owner=deployment.owner, status=JobStatus.COMPLETED).order_by(
        "created_at"
    )
    return {str((job.config or {}).get("step_id")): job.result or {} for job in jobs}


def _component_outcomes(
    deployment: UseCaseDeployment, revision: DeploymentRevision, previous: DeploymentRevision | None
) -> dict[str, Any]:
    results = _job_results(deployment, revision.execution_id)
    statuses = dict(deployment.components.values_list("component_name", "status"))
    before = (previous.components or {}) if previous else {}
    out = {}
    for name, entry in (revision.components or {}).items():
        entry = dict(entry)
        if name in results:
            entry.update(helm_revision=results[name].get("revision"), chart_version=results[name].get("chart_version"))
        elif entry.get("action") == "skip":
            kept = before.get(name) or {}
            entry.update(helm_revision=kept.get("helm_revision"), chart_version=kept.get("chart_version"))
        entry["status"] = statuses.get(name, "")
        out[name] = entry
    return out


def revision_finish(
    *, deployment: UseCaseDeployment, execution_id: str, ok: bool, error: str = ""
) -> DeploymentRevision | None:
    """The revision's execution ended: succeeded (it becomes the live revision) or failed, with each
    component's chart version and Helm revision. A retried execution may turn a failed revision succeeded."""
    revision = deployment.revisions.filter(execution_id=execution_id, status__in=(R.APPLYING, R.FAILED)).first()
    if revision is None:
        return None
    previous = deployment.revisions.filter(number=deployment.live_revision).first()
    fields: dict[str, Any] = {
        "status": R.SUCCEEDED if ok else R.FAILED,
        "error": "" if ok else error,
        "completed_at": timezone.now(),
        "components": _component_outcomes(deployment, revision, previous),
    }
    DeploymentRevision.objects.filter(pk=revision.pk).update(**fields)
    if ok:
        UseCaseDeployment.objects.filter(pk=deployment.pk).update(live_revision=revision.number)
        deployment.live_revision = revision.number
    revision.refresh_from_db()
    return revision


def revision_cancel_open(*, deployment: UseCaseDeployment) -> None:
    """A stop or cancel ended whatever was being applied."""
    deployment.revisions.filter(status=R.APPLYING).update(status=R.CANCELLED, completed_at=timezone.now())
