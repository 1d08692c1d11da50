"""Writes for clusters and jobs. The only place that changes their state.

A job's life: ``job_create`` (validated, PENDING) → ``job_execute`` (queued after commit; returns at once) →
the worker's ``job_run`` (PENDING → RUNNING by compare-and-set, so a task delivered twice runs once) →
COMPLETED / FAILED / TIMEOUT / CANCELLED, each announced on ``budpipelineEvents`` (docs/architecture.md, Events).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_q.tasks import async_task

from budportal.errors import ConflictError, ServiceValidationError
from clusterjobs import references
from clusterjobs.crypto import DecryptionError
from clusterjobs.health import check_health
from clusterjobs.helm.jobs import JobDeadlineExceeded, run_job_helm
from clusterjobs.helm.runner import HelmCancelled, HelmError
from clusterjobs.jobconfig import clean_job_config
from clusterjobs.kube import without_server_bodies
from clusterjobs.kubeconfig import parse_kubeconfig
from clusterjobs.metrics import observe_helm_job
from clusterjobs.models import (
    HEALTH_CACHE_KEY,
    HEALTH_CACHE_SECONDS,
    JOB_TYPE_TIMEOUTS,
    Cluster,
    Job,
    JobStatus,
    JobType,
)
from pipelines.events import JOB_EVENTS_TOPIC, EventType, publish
from pipelines.logcontext import bind_log_context
from pipelines.selectors import execution_list

logger = logging.getLogger(__name__)

MAX_JOB_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_JOB_ATTEMPTS = 3


# --- clusters --------------------------------------------------------------------------------------
def _clean_cluster_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceValidationError.at(("name",), "name is required (at most 100 characters)")
    return name


def _clean_groups(*, owner, group_ids: list[int] | None) -> list[Group]:
    """The groups to share with: the owner's own groups only (staff: any), else 422 naming the unknown ids."""
    ids = sorted(set(group_ids or []))
    available = Group.objects.all() if owner.is_staff else owner.groups.all()
    groups = list(available.filter(pk__in=ids))
    missing = sorted(set(ids) - {g.pk for g in groups})
    if missing:
        raise ServiceValidationError.at(("shared_with_groups",), f"you are not a member of group(s) {missing}")
    return groups


@sensitive_variables()  # every frame below holds the kubeconfig or its credentials
def cluster_create(
    *,
    owner,
    name: str,
    kubeconfig: str,
    ingress_url: str = "",
    is_sandbox: bool = False,
    shared_with_groups: list[int] | None = None,
) -> Cluster:
    """Store a cluster; its kubeconfig must parse and name a current context with a server (else 422).
    Whether ``owner`` may register clusters at all is the caller's check (``selectors.can_add_cluster``)."""
    name = _clean_cluster_name(name)
    parsed = parse_kubeconfig(kubeconfig)
    groups = _clean_groups(owner=owner, group_ids=shared_with_groups)
    if Cluster.objects.filter(owner=owner, name=name).exists():
        raise ServiceValidationError.at(("name",), f"you already have a cluster named {name!r}")
    cluster = Cluster(
        owner=owner, name=name, server_url=parsed.server, ingress_url=ingress_url or "", is_sandbox=is_sandbox
    )
    cluster.kubeconfig = kubeconfig
    try:
        with transaction.atomic():
            cluster.save()
            cluster.shared_with_groups.set(groups)
    except IntegrityError:  # a concurrent create with the same name
        raise ServiceValidationError.at(("name",), f"you already have a cluster named {name!r}") from None
    logger.info("cluster %s (%s) created by user %s", cluster.pk, name, owner.pk)
    return cluster


@sensitive_variables()  # every frame below holds the kubeconfig or its credentials
def cluster_register_sandbox(*, url: str, kubeconfig: str, owner, name: str = "sandbox") -> Cluster:
    """Create or update the owner's simulated sandbox cluster (called by ``manage.py sandbox_cluster``)."""
    parsed = parse_kubeconfig(kubeconfig)
    cluster = Cluster.objects.filter(owner=owner, name=name).first() or Cluster(owner=owner, name=name)
    cluster.kubeconfig = kubeconfig
    cluster.server_url = parsed.server or url
    cluster.ingress_url = cluster.ingress_url or ""
    cluster.is_sandbox = True
    cluster.save()
    return cluster


def _describe(uses: list[references.ClusterUse]) -> str:
    shown = ", ".join(f"{use.name} ({use.status})" for use in uses[:10])
    return shown + (f" and {len(uses) - 10} more" if len(uses) > 10 else "")


def cluster_share(*, cluster: Cluster, by, group_ids: list[int]) -> Cluster:
    """Share the cluster with exactly these groups. A group is not unshared while one of its members'
    deployments still has releases on the cluster (they could no longer stop it): 409 naming them."""
    groups = _clean_groups(owner=by, group_ids=group_ids)
    stranded = [
        use
        for use in references.cluster_uses(cluster)
        if use.owner_id != cluster.owner_id and not _still_usable(cluster, use.owner_id, groups)
    ]
    if stranded:
        raise ConflictError(
            f"deployments of other users still run on the cluster: {_describe(stranded)}; "
            "they must be stopped before their group loses the cluster"
        )
    cluster.shared_with_groups.set(groups)
    return cluster


def _still_usable(cluster: Cluster, user_id: int, groups: list[Group]) -> bool:
    User = get_user_model()
    user = User.objects.filter(pk=user_id).first()
    return user is None or user.is_staff or user.groups.filter(pk__in=[g.pk for g in groups]).exists()


def cluster_delete(*, cluster: Cluster) -> None:
    """Delete a cluster and its job history; refused (409, naming them) while one of its jobs is still
    running or a deployment still has releases on it: without the cluster they could never be uninstalled."""
    if cluster.jobs.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING], deadline__isnull=False).exists():
        raise ConflictError("the cluster has queued or running jobs; cancel them first")
    uses = references.cluster_uses(cluster)
    if uses:
        raise ConflictError(
            f"deployments still have releases on the cluster: {_describe(uses)}; stop or delete them first"
        )
    cluster.delete()


@sensitive_variables()  # every frame below holds the kubeconfig or its credentials
def cluster_health(*, cluster: Cluster) -> dict[str, Any]:
    """``{"healthy", "server_version", "latency_ms", "error"}`` from ``/version`` and ``/readyz``."""
    try:
        kubeconfig = cluster.kubeconfig
    except DecryptionError as exc:
        health: dict[str, Any] = {"healthy": False, "server_version": None, "latency_ms": 0.0, "error": str(exc)}
    else:
        health = check_health(kubeconfig)
    # Remembered for a while so pages can order and label clusters without asking each API server again.
    cache.set(HEALTH_CACHE_KEY.format(cluster.pk), bool(health["healthy"]), HEALTH_CACHE_SECONDS)
    return health


# --- jobs ------------------------------------------------------------------------------------------
def _clean_timeout(job_type: str, timeout_seconds: int | None) -> int:
    if timeout_seconds is None:
        return JOB_TYPE_TIMEOUTS[job_type]
    if not isinstance(timeout_seconds, int) or not 0 < timeout_seconds <= MAX_JOB_TIMEOUT_SECONDS:
        raise ServiceValidationError.at(("timeout_seconds",), "timeout_seconds must be between 1 and 604800")
    return timeout_seconds


def job_create(
    *,
    owner,
    cluster: Cluster,
    job_type: str,
    config: dict[str, Any],
    source: str = "",
    source_id: str | uuid.UUID | None = None,
    name: str = "",
    timeout_seconds: int | None = None,
) -> Job:
    """A PENDING job with a validated, normalised config (422 listing every problem otherwise)."""
    if job_type not in JobType.values:
        raise ServiceValidationError.at(("job_type",), f"unknown job type {job_type!r}")
    cleaned = clean_job_config(job_type, config)
    timeout = _clean_timeout(job_type, timeout_seconds)
    source_id = _check_references(owner=owner, source_id=source_id, config=cleaned)
    default_name = f"{job_type}-{cleaned.get('release_name') or cleaned.get('namespace')}"
    return Job.objects.create(
        owner=owner,
        cluster=cluster,
        job_type=job_type,
        config=cleaned,
        source=(source or "")[:100],
        source_id=source_id,
        name=(name or default_name)[:200],
        timeout_seconds=timeout,
    )


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _execution_visible(owner, execution_id: uuid.UUID) -> bool:
    return execution_list(user=owner).filter(pk=execution_id).exists()


def _check_references(*, owner, source_id: Any, config: dict[str, Any]) -> str | None:
    """Ids a job names must be the owner's: a job attached to another user's deployment would put its events
    in that deployment's log and have that deployment's stop uninstall its release. Returns the source id in
    its canonical form (a UUID written as ``str(uuid)``, as the deployment and execution lookups match it).

    ``source_id`` is an execution or deployment id of the owner's, or a free label that is not a UUID.
    """
    errors: list[dict[str, Any]] = []
    source = _as_uuid(source_id) if source_id else None
    if source is not None and not (
        _execution_visible(owner, source) or references.deployment_visible(user=owner, deployment_id=source)
    ):
        errors.append({"loc": ["source_id"], "msg": f"no execution or deployment {source} of yours"})
    deployment = _as_uuid(config.get("deployment_id")) if config.get("deployment_id") else None
    if deployment is not None and not references.deployment_visible(user=owner, deployment_id=deployment):
        errors.append({"loc": ["config", "deployment_id"], "msg": f"no deployment {deployment} of yours"})
    execution = _as_uuid(config.get("execution_id")) if config.get("execution_id") else None
    if config.get("execution_id") and (execution is None or not _execution_visible(owner, execution)):
        errors.append({"loc": ["config", "execution_id"], "msg": f"no execution {config['execution_id']} of yours"})
    if errors:
        raise ServiceValidationError(errors)
    if source is not None:
        return str(source)
    return str(source_id)[:100] if source_id else None


def job_execute(*, job_id: uuid.UUID | str) -> Job:
    """Queue a PENDING job for a worker (after commit) and return at once; 409 if queued or finished."""
    now = timezone.now()
    job = Job.objects.get(pk=job_id)
    queued = Job.objects.filter(pk=job.pk, status=JobStatus.PENDING, deadline__isnull=True).update(
        deadline=now + timedelta(seconds=job.timeout_seconds)
    )
    if not queued:
        raise ConflictError(
            f"job is {job.status}{' and already queued' if job.deadline else ''}; "
            "only a PENDING job that has not been queued can be executed"
        )
    _queue(job)
    job.refresh_from_db()
    return job


def _queue(job: Job) -> None:
    transaction.on_commit(
        lambda: async_task("clusterjobs.tasks.execute_job", str(job.pk), task_name=f"job-{job.pk}-{job.attempts}")
    )


def job_cancel(*, job_id: uuid.UUID | str) -> Job:
    """Cancel a PENDING or RUNNING job; the worker stops its helm process within a second. 409 if finished."""
    job = Job.objects.get(pk=job_id)
    if job.status == JobStatus.CANCELLED:
        return job
    if not _finish(job, JobStatus.CANCELLED, error="cancelled", allowed_from=(JobStatus.PENDING, JobStatus.RUNNING)):
        job.refresh_from_db()
        raise ConflictError(f"job is already {job.status}")
    job.refresh_from_db()
    return job


def job_expire_overdue() -> int:
    """Mark queued or running jobs past their deadline TIMEOUT (the periodic sweep calls this)."""
    count = 0
    overdue = Job.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING], deadline__lt=timezone.now())
    for job in overdue:
        count += _finish(
            job,
            JobStatus.TIMEOUT,
            error=f"job exceeded its timeout of {job.timeout_seconds} s",
            allowed_from=(JobStatus.PENDING, JobStatus.RUNNING),
        )
    return count


def _finish(
    job: Job,
    status: str,
    *,
    result: dict | None = None,
    error: str = "",
    allowed_from: tuple[str, ...] = (JobStatus.RUNNING,),
) -> bool:
    """Compare-and-set to a final status and publish the job event in the same transaction."""
    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status__in=allowed_from).update(
            status=status, result=result or {}, error=error, completed_at=now, lease_expires_at=None
        )
        if changed:
            job.refresh_from_db()
            publish_job_event(job)
    return bool(changed)


def lease_seconds() -> int:
    """How long a worker's claim on a job lasts without renewal (shared with pipeline steps)."""
    return max(1, int(settings.PIPELINE_STEP_LEASE_SECONDS))


def job_start(*, job_id: uuid.UUID | str) -> Job | None:
    """PENDING → RUNNING with a lease; None when another worker got there first or the job was cancelled."""
    now = timezone.now()
    started = Job.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
    )
    return Job.objects.select_related("cluster").get(pk=job_id) if started else None


def job_renew_lease(*, job_id: uuid.UUID | str) -> bool:
    """Extend a RUNNING job's lease; False when it is no longer RUNNING (cancelled, timed out, re-claimed)."""
    return bool(
        Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
        )
    )


def job_recover_stale() -> int:
    """RUNNING jobs whose worker died (lease expired) are queued again, up to ``MAX_JOB_ATTEMPTS`` runs in
    all; re-running is safe because the install is ``upgrade --install`` and a release left pending by the
    dead worker is rolled back or cleared first. Past the limit the job fails with a clear error."""
    stale = Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=timezone.now())
    recovered = 0
    for job in stale:
        if job.attempts >= MAX_JOB_ATTEMPTS:
            recovered += _finish(
                job, JobStatus.FAILED, error=f"worker lost {job.attempts} times while running the job; giving up"
            )
            continue
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, lease_expires_at__lt=timezone.now()).update(
                status=JobStatus.PENDING, lease_expires_at=None
            ):
                logger.warning("job %s lost its worker during attempt %s; queued again", job.pk, job.attempts)
                _queue(job)
                recovered += 1
    return recovered


def jobs_sweep() -> dict[str, int]:
    """What the periodic sweep does for jobs: time out the overdue ones, re-queue those of dead workers."""
    return {"jobs_timed_out": job_expire_overdue(), "jobs_recovered": job_recover_stale()}


def job_complete(*, job: Job, result: dict[str, Any]) -> bool:
    return _finish(job, JobStatus.COMPLETED, result=result)


def job_fail(*, job: Job, error: str) -> bool:
    return _finish(job, JobStatus.FAILED, error=error)


def publish_job_event(job: Job) -> None:
    """``job_completed`` / ``job_failed`` on ``budpipelineEvents``, in BudCluster's payload shape
    (docs/architecture.md, Events)."""
    completed = job.status == JobStatus.COMPLETED
    event_type = EventType.JOB_COMPLETED if completed else EventType.JOB_FAILED
    payload: dict[str, Any] = {
        "job_id": str(job.id),
        "job_type": job.job_type,
        "source": job.source,
        "source_id": str(job.source_id) if job.source_id else None,
        "status": job.status,
        "content": {"result": job.result or {}, "status": job.status},
    }
    if job.error:
        payload["error"] = job.error
    event = {"type": event_type, "workflow_id": str(job.id), "payload": payload}
    publish(JOB_EVENTS_TOPIC, event_type, event, deployment_id=job.config.get("deployment_id") or None)


def _keep_alive(job: Job) -> Callable[[], bool]:
    """Called every half second while Helm runs: renews the job's lease now and then, and says whether to
    stop (the job is no longer RUNNING: cancelled, timed out, or re-claimed after this worker looked dead)."""
    every = max(0.5, lease_seconds() / 3)
    renewed_at = time.monotonic()

    def should_cancel() -> bool:
        nonlocal renewed_at
        if time.monotonic() - renewed_at < every:
            return not Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).exists()
        renewed_at = time.monotonic()
        return not job_renew_lease(job_id=job.pk)

    return should_cancel


def job_run(*, job_id: uuid.UUID | str) -> Job | None:
    """The worker's side: claim the job, re-validate, run Helm, finish. Safe to call twice."""
    job = job_start(job_id=job_id)
    if job is None:
        logger.info("job %s is not PENDING; nothing to run", job_id)
        return None
    bind_log_context(deployment_id=job.config.get("deployment_id") or None)
    began = time.monotonic()
    try:
        config = clean_job_config(job.job_type, job.config)
        result = run_job_helm(job, config, _keep_alive(job))
    except ServiceValidationError as exc:
        job_fail(job=job, error=f"invalid job config: {exc}")
    except JobDeadlineExceeded as exc:
        _finish(job, JobStatus.TIMEOUT, error=str(exc))
    except HelmCancelled:
        logger.info("job %s stopped: it was cancelled or timed out", job.pk)
    except (HelmError, DecryptionError) as exc:
        job_fail(job=job, error=without_server_bodies(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a worker must always leave the job in a final state
        logger.exception("job %s failed unexpectedly", job.pk)
        job_fail(job=job, error=f"internal error: {exc.__class__.__name__}")
    else:
        job_complete(job=job, result=result)
    job.refresh_from_db()
    observe_helm_job(job, time.monotonic() - began)
    return job
