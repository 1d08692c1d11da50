"""The API resources the stand-in serves, and the discovery documents client-go reads to find them."""

from dataclasses import dataclass, field
from typing import Any

SERVER_VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T00:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = field(default=())

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Store key: ``deployments.apps``, or ``secrets`` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


_STATUS = ("status",)
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), ("status", "finalize")),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "services", "Service", True, ("svc",), _STATUS),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "pods", "Pod", True, ("po",), _STATUS),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), _STATUS),
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), _STATUS),
    Resource("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    Resource("", "v1", "events", "Event", True, ("ev",)),
    Resource("", "v1", "nodes", "Node", False, ("no",), _STATUS),
    Resource("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    Resource("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), _STATUS),
    Resource("", "v1", "replicationcontrollers", "ReplicationController", True, ("rc",), _STATUS),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), _STATUS),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), _STATUS),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), _STATUS),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), _STATUS),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision"),
    Resource("batch", "v1", "jobs", "Job", True, (), _STATUS),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",), _STATUS),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), _STATUS),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True, (), _STATUS),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), _STATUS),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), _STATUS),
    Resource(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        _STATUS,
    ),
)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in RESOURCES if r.group))


def resource_for(group_version: str, plural: str) -> Resource | None:
    return next((r for r in RESOURCES if r.group_version == group_version and r.plural == plural), None)


def resource_for_kind(kind: str) -> Resource:
    """Look a resource up by kind (``Deployment``), plural (``deployments``) or store key."""
    lowered = kind.lower()
    for resource in RESOURCES:
        if lowered in (resource.kind.lower(), resource.plural, resource.key):
            return resource
    raise KeyError(f"the stand-in does not serve {kind!r}")


def has_group_version(group_version: str) -> bool:
    return any(r.group_version == group_version for r in RESOURCES)


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str) -> dict[str, Any]:
    versions = list(dict.fromkeys(r.version for r in RESOURCES if r.group == group))
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    groups = [{k: v for k, v in api_group(g).items() if k not in ("kind", "apiVersion")} for g in GROUPS]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_entries(resource: Resource) -> list[dict[str, Any]]:
    main = {
        "name": resource.plural,
        "singularName": resource.kind.lower(),
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": ALL_VERBS,
        "shortNames": list(resource.short_names),
        "storageVersionHash": resource.key[:12],
    }
    subs = [
        {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": ["get", "patch", "update"],
        }
        for sub in resource.subresources
    ]
    return [main, *subs]


def api_resource_list(group_version: str) -> dict[str, Any]:
    entries = [e for r in RESOURCES if r.group_version == group_version for e in _resource_entries(r)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}
