"""Writes of deployment health: a check (read the cluster, record, tell), the periodic sweep, and Resync.

- ``deployment_check_health`` reads the resource tree (``usecases.selectors.resources``), stores it on the
  deployment's ``DeploymentHealth`` row, publishes ``health_changed`` when health or sync moved (it joins the
  deployment's event log like any event) and notifies the owner when the deployment turns Degraded or Missing
  -- once per change, not once per sweep.
- ``health_sweep`` is registered with ``pipelines.sweep`` from ``UsecasesConfig.ready``: it checks at most
  ``HEALTH_SWEEP_BATCH`` running deployments whose next check is due, oldest first, and asks each unreachable
  cluster once per sweep (the other deployments on it are Unknown with the same reason at no cost).
- ``component_resync`` re-applies a component's recorded values (``helm upgrade`` through a cluster job with
  the config of its last install). When revisions land (day-2 work), route it through ``deployment_apply``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from budportal.errors import ConflictError
from clusterjobs import services as cluster_services
from clusterjobs.models import Job
from clusterjobs.resources import Health, Sync
from pipelines.events import publish
from pipelines.notifications import notification_create
from usecases.models.deployments import ComponentDeployment, ComponentStatus, DeploymentStatus, UseCaseDeployment
from usecases.models.health import DeploymentHealth
from usecases.selectors.resources import deployment_resources_live, unknown

HEALTH_TOPIC = "deploymentHealthEvents"
HEALTH_CHANGED = "health_changed"
BAD = (Health.DEGRADED, Health.MISSING)


def _next_check(failures: int) -> timedelta:
    """The interval, doubled for each consecutive failure to read the cluster (capped)."""
    seconds = settings.HEALTH_CHECK_INTERVAL_SECONDS * 2 ** min(failures, 10)
    return timedelta(seconds=min(seconds, max(settings.HEALTH_BACKOFF_MAX_SECONDS, 1)))


def _first_problem(snapshot: dict[str, Any]) -> str:
    for component in snapshot["components"]:
        if component["health"] in BAD:
            bad = _bad_object(component["objects"])
            return f"{component['name']}: {bad or component['message'] or component['health']}"
    return snapshot["reason"]


def _bad_object(objects: list[dict[str, Any]]) -> str:
    for obj in objects:
        deeper = _bad_object(obj["children"])
        if deeper:
            return deeper
        if obj["health"] in BAD:
            return f"{obj['kind']} {obj['name']} is {obj['health']}" + (
                f" ({obj['message']})" if obj["message"] else ""
            )
    return ""


def deployment_check_health(*, deployment: UseCaseDeployment) -> DeploymentHealth:
    """Read the deployment's resources from the cluster now and record them (the Refresh button)."""
    return deployment_record_health(deployment=deployment, snapshot=deployment_resources_live(deployment=deployment))


def deployment_record_health(*, deployment: UseCaseDeployment, snapshot: dict[str, Any]) -> DeploymentHealth:
    now = timezone.now()
    with transaction.atomic():
        row, _ = DeploymentHealth.objects.select_for_update().get_or_create(deployment=deployment)
        before = (row.health, row.sync)
        row.failures = row.failures + 1 if snapshot["health"] == Health.UNKNOWN else 0
        row.health, row.sync = str(snapshot["health"]), str(snapshot["sync"])
        row.reason, row.components = snapshot["reason"], snapshot["components"]
        row.checked_at, row.next_check_at = now, now + _next_check(row.failures)
        tell = row.health in BAD and row.notified_health != row.health
        if row.health in BAD or row.health == Health.HEALTHY:  # Unknown/Progressing keep what was told
            row.notified_health = row.health if row.health in BAD else ""
        row.save()
        if before != (row.health, row.sync):
            payload = {
                "health": row.health,
                "sync": row.sync,
                "previous": before[0],
                "reason": _first_problem(snapshot),
            }
            publish(HEALTH_TOPIC, HEALTH_CHANGED, payload, deployment_id=deployment.pk)
        if tell:
            notification_create(
                user=deployment.owner,
                message=f"Use case '{deployment.name}' is {row.health}: {_first_problem(snapshot)}",
                level="error",
                title=f"Deployment {deployment.name}",
                link=reverse("usecases:deployment-detail", args=[deployment.pk]),
            )
    return row


def health_sweep(*, limit: int | None = None) -> dict[str, int]:
    """Check the running deployments whose next check is due, at most ``limit`` (oldest-checked first)."""
    now = timezone.now()
    due = (
        UseCaseDeployment.objects.filter(status=DeploymentStatus.RUNNING)
        .filter(Q(health__isnull=True) | Q(health__next_check_at__lte=now))
        .select_related("cluster", "owner")
        .order_by(F("health__next_check_at").asc(nulls_first=True), "created_at")
    )[: limit or settings.HEALTH_SWEEP_BATCH]
    unreachable: dict[Any, dict[str, Any]] = {}
    checked = 0
    for deployment in due:
        known = unreachable.get(deployment.cluster_id)
        snapshot = known or deployment_resources_live(deployment=deployment)
        if snapshot["health"] == Health.UNKNOWN and deployment.cluster_id is not None:
            unreachable[deployment.cluster_id] = unknown(snapshot["reason"])
        deployment_record_health(deployment=deployment, snapshot=snapshot)
        checked += 1
    return {"deployments_health_checked": checked}


def component_resync(*, component: ComponentDeployment) -> Job:
    """Re-apply the component's recorded values (``helm upgrade --install`` with its last install's config);
    the next check is due at once."""
    deployment = component.deployment
    job = Job.objects.filter(pk=component.job_id).first() if component.job_id else None
    if deployment.status != DeploymentStatus.RUNNING or component.status != ComponentStatus.RUNNING or job is None:
        raise ConflictError("only an installed component of a running deployment can be resynced")
    if deployment.cluster is None:
        raise ConflictError("the deployment's cluster was deleted")
    with transaction.atomic():
        resync = cluster_services.job_create(
            owner=deployment.owner,
            cluster=deployment.cluster,
            job_type=job.job_type,
            config=job.config,
            source="usecases.resync",
            source_id=str(deployment.pk),
            name=f"resync-{component.release_name}",
        )
        cluster_services.job_execute(job_id=resync.pk)
        DeploymentHealth.objects.filter(deployment=deployment).update(next_check_at=timezone.now())
    return resync


__all__ = ["HEALTH_TOPIC", "Sync", "component_resync", "deployment_check_health", "health_sweep"]
