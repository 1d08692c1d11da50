"""Read-only Helm for plans: render a chart with given values (``helm template``, no cluster) and read what a
release has on the cluster now (``helm get manifest``, through the policy proxy like every Helm call)."""

from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables

from clusterjobs.helm.jobs import check_chart_host
from clusterjobs.helm.runner import ChartSource, HelmError, HelmRunner
from clusterjobs.models import Cluster
from clusterjobs.policy.pss import Level


@sensitive_variables()  # the runner holds the decrypted kubeconfig
def runner_for(cluster: Cluster) -> HelmRunner:
    return HelmRunner(
        kubeconfig=cluster.kubeconfig,
        level=Level(cluster.pod_security_level),
        allowed_cluster_kinds=frozenset(cluster.allowed_cluster_kinds or ()),
    )


def render_release(
    *, cluster: Cluster, chart_ref: str, chart_version: str | None, release_name: str, namespace: str, values: dict
) -> list[dict[str, Any]]:
    """The objects ``helm template`` renders for these values (HelmError when the chart cannot be rendered)."""
    try:
        check_chart_host(chart_ref)
    except OSError as exc:
        raise HelmError(f"chart ref refused: {exc}") from None
    objects = runner_for(cluster).render(
        chart=ChartSource(chart_ref, chart_version), release_name=release_name, namespace=namespace, values=values
    )
    return [obj for obj in objects if isinstance(obj, dict)]


def release_manifest(*, cluster: Cluster, release_name: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of the release's current revision on the cluster; empty when the release does not exist."""
    return runner_for(cluster).manifest(release_name=release_name, namespace=namespace)
