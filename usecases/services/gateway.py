"""``POST …/retry-gateway``: publish a running deployment's access URLs (and its network policy) again, e.g.
after someone deleted a route or the cluster's gateway settings changed (README "Access URLs")."""

from __future__ import annotations

from typing import Any

from budportal.errors import ConflictError
from clusterjobs.helm import access
from clusterjobs.kube import KubeError
from clusterjobs.models import Cluster
from usecases.models.deployments import ComponentDeployment, ComponentStatus, DeploymentStatus, UseCaseDeployment


def _declared_access(deployment: UseCaseDeployment) -> dict[str, dict[str, Any]]:
    components = (deployment.template_snapshot or {}).get("components") or []
    return {c["name"]: c["access"] for c in components if isinstance(c, dict) and c.get("access")}


def _republish(cluster: Cluster, deployment: UseCaseDeployment, component: ComponentDeployment, spec: dict) -> None:
    outputs = dict(component.outputs or {})
    published = access.publish_access(
        cluster,
        namespace=deployment.namespace,
        release=component.release_name,
        services=outputs.get("services") or [],
        access=spec,
    )
    ComponentDeployment.objects.filter(pk=component.pk).update(outputs=outputs | published)


def deployment_retry_gateway(*, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Re-create every declared access route of the running components; 409 unless running or when the
    cluster refuses."""
    if deployment.status != DeploymentStatus.RUNNING or deployment.cluster is None:
        raise ConflictError(f"deployment is {deployment.status}; access URLs exist only while it runs")
    declared = _declared_access(deployment)
    cluster = deployment.cluster
    try:
        access.isolate_namespace(cluster, deployment.namespace)
        for component in deployment.components.filter(status=ComponentStatus.RUNNING, component_name__in=declared):
            _republish(cluster, deployment, component, declared[component.component_name])
    except (KubeError, ValueError) as exc:
        raise ConflictError(f"the cluster refused the access route: {exc}") from None
    deployment.refresh_from_db()
    return deployment
