"""The deployment lookups clusterjobs asks for (``clusterjobs.references``); registered at ``ready()``."""

from __future__ import annotations

import uuid

from clusterjobs import references
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment
from usecases.selectors.deployments import deployment_list

# A pending deployment has installed nothing and a stopped one has uninstalled everything: neither needs the
# cluster any more. Every other status may have releases on it that only the cluster can remove.
RELEASES_GONE = (DeploymentStatus.PENDING, DeploymentStatus.STOPPED)


def deployment_visible(user, deployment_id: uuid.UUID) -> bool:
    return deployment_list(user=user).filter(pk=deployment_id).exists()


def cluster_uses(cluster) -> list[references.ClusterUse]:
    rows = UseCaseDeployment.objects.filter(cluster=cluster).exclude(status__in=RELEASES_GONE)
    return [
        references.ClusterUse(name=name, status=status, owner_id=owner_id)
        for name, status, owner_id in rows.order_by("name").values_list("name", "status", "owner_id")
    ]


def register() -> None:
    references.register(deployment_visible=deployment_visible, cluster_uses=cluster_uses)
