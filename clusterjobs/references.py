"""What clusterjobs needs to know about deployments, which live in the ``usecases`` app above it.

clusterjobs never imports usecases (the layers import one way), so usecases registers two lookups here when
it is ready (``UsecasesConfig.ready``): may this user name this deployment in a job, and which deployments
still have releases on this cluster. Without usecases installed no deployment exists: every reference to
one is refused and nothing blocks deleting a cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClusterUse:
    """A deployment that still needs its cluster (to run, or to be uninstalled from it)."""

    name: str
    status: str
    owner_id: int


DeploymentVisible = Callable[[Any, uuid.UUID], bool]
ClusterUses = Callable[[Any], list[ClusterUse]]
_lookups: dict[str, Any] = {}


def register(*, deployment_visible: DeploymentVisible, cluster_uses: ClusterUses) -> None:
    _lookups.update(deployment_visible=deployment_visible, cluster_uses=cluster_uses)


def deployment_visible(*, user, deployment_id: uuid.UUID) -> bool:
    lookup = _lookups.get("deployment_visible")
    return bool(lookup and lookup(user, deployment_id))


def cluster_uses(cluster) -> list[ClusterUse]:
    lookup = _lookups.get("cluster_uses")
    return lookup(cluster) if lookup else []
