"""The portal's own objects in a deployment namespace, beside the charts' (README "Access URLs", "Network
isolation"): the route that publishes a component's access URL, and the namespace's NetworkPolicy.

They are built here from validated fields (never from chart output or user YAML) and written with the
cluster's kubeconfig, idempotently (``KubeClient.apply``), so a retried job or ``retry-gateway`` converges.
"""

from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables

from clusterjobs import validators
from clusterjobs.kube import KubeClient
from clusterjobs.kubeconfig import parse_kubeconfig
from clusterjobs.models import Cluster, GatewayKind

ACCESS_LABEL = "budportal.io/access-for"  # the release a route publishes
MANAGED_BY = {"app.kubernetes.io/managed-by": "budportal"}
POLICY_NAME = "budportal-isolation"
INGRESS_API = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
HTTPROUTE_API = "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes"
POLICY_API = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"


def access_host(cluster: Cluster, *, release: str, namespace: str) -> str:
    return f"{release}-{namespace}.{cluster.access_base_domain.strip('.').lower()}"


def access_url(cluster: Cluster, *, release: str, namespace: str, path: str) -> str:
    return f"https://{access_host(cluster, release=release, namespace=namespace)}{path}"


def backend_service(services: list[dict[str, Any]], port: int) -> str | None:
    """The release's Service that has the access port (the first such)."""
    for service in services:
        if any(p.get("port") == port for p in service.get("ports") or []):
            return service["name"]
    return None


def route_object(cluster: Cluster, *, namespace: str, release: str, service: str, access: dict) -> dict[str, Any]:
    host = access_host(cluster, release=release, namespace=namespace)
    metadata = {"name": f"{release}-access", "namespace": namespace, "labels": {**MANAGED_BY, ACCESS_LABEL: release}}
    if cluster.gateway_kind == GatewayKind.HTTPROUTE:
        parent: dict[str, Any] = {"name": cluster.gateway_class}
        if cluster.gateway_namespace:
            parent["namespace"] = cluster.gateway_namespace
        rule = {
            "matches": [{"path": {"type": "PathPrefix", "value": access["path"]}}],
            "backendRefs": [{"name": service, "port": access["port"]}],
        }
        spec: dict[str, Any] = {"parentRefs": [parent], "hostnames": [host], "rules": [rule]}
        return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": metadata, "spec": spec}
    backend = {"service": {"name": service, "port": {"number": access["port"]}}}
    http_path = {"path": access["path"], "pathType": "Prefix", "backend": backend}
    spec = {"rules": [{"host": host, "http": {"paths": [http_path]}}]}
    if cluster.gateway_class:
        spec["ingressClassName"] = cluster.gateway_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}


def _collection(cluster: Cluster, namespace: str) -> str:
    api = HTTPROUTE_API if cluster.gateway_kind == GatewayKind.HTTPROUTE else INGRESS_API
    return api.format(ns=namespace)


def network_policy(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """Pods of the namespace accept traffic only from pods of the same namespace and of the gateway's."""
    admitted = [namespace]
    if cluster.gateway_namespace and validators.is_dns_label(cluster.gateway_namespace):
        admitted.append(cluster.gateway_namespace)
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in admitted]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]},
    }


@sensitive_variables()
def isolate_namespace(cluster: Cluster, namespace: str) -> bool:
    """Apply the namespace's NetworkPolicy when the cluster asks for isolation; whether it did."""
    if not cluster.network_isolation:
        return False
    client = KubeClient(parse_kubeconfig(cluster.kubeconfig))
    client.apply(POLICY_API.format(ns=namespace), network_policy(cluster, namespace))
    return True


@sensitive_variables()
def publish_access(
    cluster: Cluster, *, namespace: str, release: str, services: list[dict[str, Any]], access: dict[str, Any]
) -> dict[str, str]:
    """Create (or replace) the component's route; ``{access_url, access_kind}``, or {} when the cluster has
    no base domain for access URLs. ``KubeError`` when the API server refuses it."""
    if not cluster.access_base_domain:
        return {}
    service = backend_service(services, access["port"])
    if service is None:
        raise ValueError(f"no Service of release {release} has port {access['port']} (the access port)")
    obj = route_object(cluster, namespace=namespace, release=release, service=service, access=access)
    KubeClient(parse_kubeconfig(cluster.kubeconfig)).apply(_collection(cluster, namespace), obj)
    url = access_url(cluster, release=release, namespace=namespace, path=access["path"])
    return {"access_url": url, "access_kind": access["kind"]}


@sensitive_variables()
def remove_access(cluster: Cluster, *, namespace: str, release: str) -> bool:
    client = KubeClient(parse_kubeconfig(cluster.kubeconfig))
    return client.delete(f"{_collection(cluster, namespace)}/{release}-access")
