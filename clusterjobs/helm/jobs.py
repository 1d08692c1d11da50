"""What a job does on the cluster: a Helm install, or uninstalls followed by removing the namespace."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from clusterjobs.helm.runner import ChartSource, HelmError, HelmRunner
from clusterjobs.kube import KubeClient, KubeError
from clusterjobs.kubeconfig import parse_kubeconfig
from clusterjobs.models import Job, JobStatus, JobType


def _helm_timeout(job: Job, config: dict[str, Any]) -> int:
    """Helm's ``--timeout``: the config's, else the default, never beyond the job's own deadline."""
    wanted = config.get("timeout") or settings.HELM_DEFAULT_TIMEOUT_SECONDS
    if job.deadline is None:
        return min(wanted, job.timeout_seconds)
    remaining = int((job.deadline - timezone.now()).total_seconds())
    return max(1, min(wanted, remaining))


def _cancel_check(job: Job):
    def should_cancel() -> bool:
        return Job.objects.filter(pk=job.pk).exclude(status=JobStatus.RUNNING).exists()
    return should_cancel


def run_job_helm(job: Job, config: dict[str, Any]) -> dict[str, Any]:
    runner = HelmRunner(kubeconfig=job.cluster.kubeconfig)
    if job.job_type == JobType.HELM_UNINSTALL:
        return uninstall_releases(runner, job, config)
    return runner.deploy(
        chart=ChartSource(config["chart_ref"], config.get("chart_version")),
        release_name=config["release_name"], namespace=config["namespace"], values=config.get("values") or {},
        timeout_seconds=_helm_timeout(job, config), should_cancel=_cancel_check(job),
    )


def uninstall_releases(runner: HelmRunner, job: Job, config: dict[str, Any]) -> dict[str, Any]:
    namespace, timeout = config["namespace"], _helm_timeout(job, config)
    for release in config["releases"]:
        runner.uninstall(release_name=release, namespace=namespace, timeout_seconds=timeout)
    deleted = config["delete_namespace"] and delete_namespace_if_unused(job.cluster.kubeconfig, namespace)
    return {"namespace": namespace, "uninstalled": config["releases"], "namespace_deleted": bool(deleted)}


def delete_namespace_if_unused(kubeconfig: str, namespace: str) -> bool:
    """Delete the namespace when no Helm release is left in it (its release records are Secrets labelled
    ``owner=helm``). Returns whether it was deleted; a namespace that is already gone counts as not deleted."""
    client = KubeClient(parse_kubeconfig(kubeconfig))
    try:
        secrets = client.get_json(f"/api/v1/namespaces/{namespace}/secrets", query={"labelSelector": "owner=helm"},
                                  allow_404=True)
        if secrets and secrets.get("items"):
            return False
        return client.delete(f"/api/v1/namespaces/{namespace}")
    except KubeError as exc:
        raise HelmError(f"releases uninstalled, but namespace {namespace} could not be removed: {exc}") from None
