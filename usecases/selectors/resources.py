"""Reads of what a deployment's releases own on the cluster: live (one check) and as last recorded.

``deployment_resources_live`` reads the cluster with the deployment's cluster's kubeconfig, inside the
deployment's namespace only; ``usecases.services.health`` records what it returns. The stored snapshot
(``deployment_health_get``) is what pages and ``GET /api/deployments/{id}/resources`` show, so reading a page
never costs a cluster request.
"""

from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables

from clusterjobs.failures import explain
from clusterjobs.kube import KubeClient, KubeError
from clusterjobs.kubeconfig import parse_kubeconfig
from clusterjobs.resources import Health, NamespaceLister, Sync, release_manifest, release_tree, tree_health, tree_sync
from clusterjobs.resources import worst as worst_health
from usecases.models.deployments import ComponentStatus, DeploymentStatus, UseCaseDeployment
from usecases.models.health import DeploymentHealth

# Components whose release should be on the cluster.
INSTALLED = (ComponentStatus.RUNNING,)
CLUSTER_TIMEOUT_SECONDS = 5.0


def unknown(reason: str) -> dict[str, Any]:
    return {"health": Health.UNKNOWN, "sync": Sync.UNKNOWN, "reason": reason, "components": [], "requests": 0}


@sensitive_variables()  # the frames hold the decrypted kubeconfig
def deployment_resources_live(*, deployment: UseCaseDeployment) -> dict[str, Any]:
    """``{"health", "sync", "reason", "components": [{name, release, health, sync, objects}], "requests"}``."""
    if deployment.cluster is None:
        return unknown("the deployment's cluster was deleted")
    if deployment.status != DeploymentStatus.RUNNING:
        return unknown(f"the deployment is {deployment.status}: health is checked while it runs")
    components = [c for c in deployment.components.all() if c.status in INSTALLED and c.release_name]
    try:
        client = KubeClient(parse_kubeconfig(deployment.cluster.kubeconfig), timeout=CLUSTER_TIMEOUT_SECONDS)
        lister = NamespaceLister(client, deployment.namespace)
        rows, requests = [], 0
        for component in components:
            manifest = release_manifest(client, deployment.namespace, component.release_name)
            requests += 1
            rows.append(_component_row(component.component_name, component.release_name, lister, manifest))
    except (KubeError, ValueError) as exc:  # ValueError: a kubeconfig or release record that does not parse
        return unknown(explain(str(exc)).cause)
    return {
        "health": worst_health([Health(r["health"]) for r in rows]),
        "sync": Sync.OUT_OF_SYNC if any(r["sync"] == Sync.OUT_OF_SYNC for r in rows) else Sync.SYNCED,
        "reason": "",
        "components": rows,
        "requests": requests + lister.requests,
    }


def _component_row(name: str, release: str, lister: NamespaceLister, manifest: list | None) -> dict[str, Any]:
    if manifest is None:
        return {
            "name": name,
            "release": release,
            "health": Health.MISSING,
            "sync": Sync.OUT_OF_SYNC,
            "message": f"Helm release {release} is not on the cluster",
            "objects": [],
        }
    nodes = release_tree(lister, manifest)
    return {
        "name": name,
        "release": release,
        "health": tree_health(nodes),
        "sync": tree_sync(nodes),
        "message": "",
        "objects": [n.as_dict() for n in nodes],
    }


def deployment_health_get(*, deployment: UseCaseDeployment) -> DeploymentHealth | None:
    """The last recorded check (None: never checked)."""
    return DeploymentHealth.objects.filter(deployment=deployment).first()
