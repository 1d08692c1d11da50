"""What a job does on the cluster: a Helm install, or uninstalls followed by removing the namespace."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from clusterjobs import registries
from clusterjobs.charts.fetch import RegistryAuth, chart_host
from clusterjobs.crypto import sealed_plaintexts, unseal_tree
from clusterjobs.helm import access
from clusterjobs.helm.runner import ChartSource, HelmError, HelmRunner
from clusterjobs.kube import KubeClient, KubeError
from clusterjobs.kubeconfig import parse_kubeconfig
from clusterjobs.models import Cluster, Job, JobType
from clusterjobs.policy.pss import Level
from clusterjobs.redact import redact
from pipelines import outbound

HELM_TIMEOUT_MARKERS = ("context deadline exceeded", "timed out waiting")


class JobDeadlineExceeded(HelmError):
    """Helm hit a ``--timeout`` that was cut short by the job's own deadline: the job is TIMEOUT."""


def _helm_timeout(job: Job, config: dict[str, Any]) -> tuple[int, bool]:
    """Helm's ``--timeout`` (the config's, else the default) and whether the job's deadline shortened it."""
    wanted = config.get("timeout") or settings.HELM_DEFAULT_TIMEOUT_SECONDS
    deadline = job.deadline or job.started_at + timedelta(seconds=job.timeout_seconds)
    remaining = max(1, math.ceil((deadline - timezone.now()).total_seconds()))
    return min(wanted, remaining), remaining < wanted


def check_chart_host(ref: str) -> None:
    """Helm fetches ``https://`` and ``oci://`` charts itself, out of reach of the outbound guard: so the host is
    resolved and checked first (``OutboundRefused``), and a refused host never reaches helm, whose errors would
    tell an open port from a closed one. Helm resolves the name again when it fetches: a DNS answer that
    changes in between (rebinding) is not caught here."""
    if not ref.startswith(("https://", "oci://", "git+https://", "git://")):
        return
    parts = urlsplit(ref)
    outbound.resolve_checked(parts.hostname or "", parts.port or (9418 if ref.startswith("git://") else 443))


def registry_auth(job: Job, ref: str) -> dict[str, RegistryAuth]:
    auth = registries.registry_auth_for(owner_id=job.owner_id, ref=ref)
    return {chart_host(ref): auth} if auth else {}


@sensitive_variables()  # the runner and the frames below hold the decrypted kubeconfig
def run_job_helm(job: Job, config: dict[str, Any], should_cancel: Callable[[], bool]) -> dict[str, Any]:
    """Run the job's Helm work, polling ``should_cancel`` while Helm runs; ``JobDeadlineExceeded`` when it ran
    out of the job's time."""
    timeout, capped = _helm_timeout(job, config)
    if job.job_type != JobType.HELM_UNINSTALL:
        try:
            check_chart_host(config["chart_ref"])
        except OSError as exc:  # OutboundRefused, or a host that does not resolve
            raise HelmError(f"chart ref refused: {exc}") from None
    cluster = job.cluster
    runner = HelmRunner(
        kubeconfig=cluster.kubeconfig,
        level=Level(cluster.pod_security_level),
        allowed_cluster_kinds=frozenset(cluster.allowed_cluster_kinds or ()),
        registry_auth=registry_auth(job, config.get("chart_ref") or ""),
    )
    sealed = config.get("values") or {}
    try:
        if job.job_type == JobType.HELM_UNINSTALL:
            return uninstall_releases(runner, config, timeout, should_cancel, cluster)
        # Secret values are decrypted only here, in memory; Helm reads the values from stdin, never a file.
        return install_release(job, runner, config | {"values": unseal_tree(sealed)}, timeout, should_cancel)
    except HelmError as exc:
        message = redact(str(exc), sealed_plaintexts(sealed))
        if capped and any(marker in message for marker in HELM_TIMEOUT_MARKERS):
            raise JobDeadlineExceeded(f"job exceeded its timeout of {job.timeout_seconds} s: {message}") from None
        if message != str(exc):  # Helm quoted a secret value
            raise HelmError(message) from None
        raise


@sensitive_variables()
def install_release(
    job: Job, runner: HelmRunner, config: dict[str, Any], timeout: int, should_cancel: Callable[[], bool]
) -> dict[str, Any]:
    """``upgrade --install``, then the portal's own objects: the namespace's NetworkPolicy and the access
    route. With ``delete_on_failure``, a failed first install also removes the namespace it created."""
    namespace = config["namespace"]
    existed = namespace_exists(runner.kubeconfig, namespace) if config.get("delete_on_failure") else True
    try:
        result = runner.deploy(
            chart=ChartSource(config["chart_ref"], config.get("chart_version")),
            release_name=config["release_name"],
            namespace=namespace,
            values=config.get("values") or {},
            timeout_seconds=timeout,
            should_cancel=should_cancel,
            create_namespace=config.get("create_namespace", True) is not False,
        )
    except HelmError:
        if not existed:
            delete_namespace_if_unused(runner.kubeconfig, namespace)
        raise
    try:
        result["network_isolated"] = access.isolate_namespace(job.cluster, namespace)
        if config.get("access"):
            result |= access.publish_access(
                job.cluster,
                namespace=namespace,
                release=config["release_name"],
                services=result.get("services") or [],
                access=config["access"],
            )
    except (KubeError, ValueError) as exc:
        raise HelmError(f"release installed, but its access route or network policy failed: {exc}") from None
    return result


@sensitive_variables()
def namespace_exists(kubeconfig: str, namespace: str) -> bool:
    try:
        return (
            KubeClient(parse_kubeconfig(kubeconfig)).get_json(f"/api/v1/namespaces/{namespace}", allow_404=True)
            is not None
        )
    except KubeError as exc:
        raise HelmError(f"cannot read namespace {namespace}: {exc}") from None


def remove_routes(cluster: Cluster, namespace: str, releases: list[str]) -> None:
    try:
        for release in releases:
            access.remove_access(cluster, namespace=namespace, release=release)
    except KubeError as exc:
        raise HelmError(f"releases uninstalled, but their access routes could not be removed: {exc}") from None


def uninstall_releases(
    runner: HelmRunner,
    config: dict[str, Any],
    timeout: int,
    should_cancel: Callable[[], bool],
    cluster: Cluster,
) -> dict[str, Any]:
    namespace = config["namespace"]
    for release in config["releases"]:
        runner.uninstall(
            release_name=release, namespace=namespace, timeout_seconds=timeout, should_cancel=should_cancel
        )
    deleted = config["delete_namespace"] and delete_namespace_if_unused(runner.kubeconfig, namespace)
    if not deleted:  # the namespace stays (other releases): the routes of these releases go now
        remove_routes(cluster, namespace, config["releases"])
    return {"namespace": namespace, "uninstalled": config["releases"], "namespace_deleted": bool(deleted)}


@sensitive_variables()
def delete_namespace_if_unused(kubeconfig: str, namespace: str) -> bool:
    """Delete the namespace when no Helm release is left in it (its release records are Secrets labelled
    ``owner=helm``). Returns whether it was deleted; a namespace that is already gone counts as not deleted."""
    client = KubeClient(parse_kubeconfig(kubeconfig))
    try:
        secrets = client.get_json(
            f"/api/v1/namespaces/{namespace}/secrets", query={"labelSelector": "owner=helm"}, allow_404=True
        )
        if secrets and secrets.get("items"):
            return False
        return client.delete(f"/api/v1/namespaces/{namespace}")
    except KubeError as exc:
        raise HelmError(f"releases uninstalled, but namespace {namespace} could not be removed: {exc}") from None
