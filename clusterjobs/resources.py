"""What a Helm release owns on the cluster, live: its objects (from the release record's manifest), their
dependents (Deployment → ReplicaSet → Pods), each object's health and whether it still matches the manifest.

Reads only, only inside one namespace, through ``KubeClient`` with the cluster's kubeconfig: one request for
the release records plus one list per kind of the namespace (shared by every release of a deployment), so
the cost of a check does not grow with the number of objects. Health follows Argo CD's semantics
(``Healthy``/``Progressing``/``Degraded``/``Missing``/``Unknown``); sync compares only the fields the
manifest sets, so whatever the API server defaults or a controller owns (``status``, ``clusterIP``,
``metadata.uid``...) never counts as drift.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from clusterjobs.kube import KubeClient, KubeError


class Health(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


class Sync(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


# Worst first: a component is as healthy as its least healthy object (Argo CD's order).
HEALTH_ORDER = (Health.UNKNOWN, Health.MISSING, Health.DEGRADED, Health.PROGRESSING, Health.HEALTHY)
# kind → (API path prefix, plural). Kinds not listed fall back to apiVersion + lowercase plural.
KIND_PATHS = {
    "Deployment": ("/apis/apps/v1", "deployments"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
    "Pod": ("/api/v1", "pods"),
    "Service": ("/api/v1", "services"),
    "Endpoints": ("/api/v1", "endpoints"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
}
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_API_VERSION = re.compile(r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?v[0-9]+([a-z]+[0-9]+)?$")
# Fields a release sets but the cluster legitimately rewrites (server-side defaults, controllers).
IGNORED_PATHS = (("metadata", "namespace"), ("metadata", "resourceVersion"), ("status",))


def worst(healths: list[Health]) -> Health:
    return min(healths, key=HEALTH_ORDER.index) if healths else Health.HEALTHY


@dataclass
class LiveObject:
    kind: str
    name: str
    health: Health
    message: str = ""
    sync: Sync = Sync.SYNCED
    drift: list[dict[str, Any]] = field(default_factory=list)
    children: list[LiveObject] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # recent Warning events, for objects that are not Healthy

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "health": str(self.health),
            "message": self.message,
            "sync": str(self.sync),
            "drift": self.drift,
            "children": [c.as_dict() for c in self.children],
            "events": self.events,
        }


# ---- reading the cluster ------------------------------------------------------------------------------------


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """Helm's release record: the Secret's ``release`` is base64(gzip(JSON)), base64-encoded again by the API."""
    data = base64.b64decode(base64.b64decode((secret.get("data") or {}).get("release", "")))
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def release_manifest(client: KubeClient, namespace: str, release: str) -> list[dict[str, Any]] | None:
    """The objects of the release's deployed revision; None when the release is gone."""
    secrets = client.get_json(
        f"/api/v1/namespaces/{namespace}/secrets",
        query={"labelSelector": f"owner=helm,name={release},status=deployed"},
        allow_404=True,
    )
    items = sorted(
        (secrets or {}).get("items") or [], key=lambda s: int((s["metadata"].get("labels") or {}).get("version", 0))
    )
    if not items:
        return None
    manifest = decode_release(items[-1]).get("manifest") or ""
    return [doc for doc in yaml.safe_load_all(manifest) if isinstance(doc, dict) and doc.get("kind")]


class NamespaceLister:
    """Lists each kind of one namespace at most once per check (the releases of a deployment share it)."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self._lists: dict[str, dict[str, dict[str, Any]]] = {}

    def objects(self, kind: str, api_version: str = "v1") -> dict[str, dict[str, Any]]:
        if kind not in KIND_PATHS and not (_KIND.match(kind) and _API_VERSION.match(api_version)):
            return {}  # a manifest's kind or apiVersion never becomes anything but one path segment each
        if kind not in self._lists:
            prefix, plural = KIND_PATHS.get(kind) or (
                "/api/v1" if api_version == "v1" else f"/apis/{api_version}",
                kind.lower() + "s",
            )
            body = self.client.get_json(f"{prefix}/namespaces/{self.namespace}/{plural}", allow_404=True)
            self._lists[kind] = {o["metadata"]["name"]: o for o in (body or {}).get("items") or []}
        return self._lists[kind]

    def warnings(self, kind: str, name: str, limit: int = 3) -> list[str]:
        """The latest Warning events about an object ("BackOff: Back-off restarting failed container")."""
        about = [
            e
            for e in self.objects("Event").values()
            if e.get("type") == "Warning"
            and (e.get("involvedObject") or {}).get("kind") == kind
            and e["involvedObject"].get("name") == name
        ]
        about.sort(key=lambda e: str(e.get("lastTimestamp") or ""), reverse=True)
        return [f"{e.get('reason', '')}: {e.get('message', '')}"[:300] for e in about[:limit]]

    @property
    def requests(self) -> int:
        return len(self._lists)


# ---- health (Argo CD's built-in checks, in short) ---------------------------------------------------------------


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def workload_health(obj: dict[str, Any]) -> tuple[Health, str]:
    """A Deployment's, StatefulSet's or ReplicaSet's health and "ready/wanted replicas" (the policy proxy also
    uses it on what Helm's --wait reads)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = spec.get("replicas", 1)
    ready = status.get("availableReplicas" if obj["kind"] == "Deployment" else "readyReplicas", 0) or 0
    facts = f"{ready}/{wanted} replicas ready"
    if _condition(obj, "Progressing").get("reason") == "ProgressDeadlineExceeded":
        return Health.DEGRADED, f"{facts}; the rollout made no progress before its deadline"
    if (status.get("observedGeneration") or 0) < (obj["metadata"].get("generation") or 0):
        return Health.PROGRESSING, f"{facts}; its controller has not seen the new spec yet"
    if ready < wanted:
        return Health.PROGRESSING, facts
    return Health.HEALTHY, facts


def _pod_health(obj: dict[str, Any]) -> tuple[Health, str]:
    status = obj.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in (
            "CrashLoopBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerConfigError",
        ):
            return (
                Health.DEGRADED,
                f"{container.get('name')}: {waiting['reason']} ({container.get('restartCount', 0)} restarts)",
            )
    phase = status.get("phase", "")
    if phase == "Failed":
        return Health.DEGRADED, status.get("message") or "the Pod failed"
    if phase == "Succeeded":
        return Health.HEALTHY, "completed"
    if phase == "Running" and _condition(obj, "Ready").get("status") == "True":
        return Health.HEALTHY, "running"
    return Health.PROGRESSING, phase.lower() or "pending"


def _job_health(obj: dict[str, Any]) -> tuple[Health, str]:
    if _condition(obj, "Failed").get("status") == "True":
        return Health.DEGRADED, _condition(obj, "Failed").get("message") or "the Job failed"
    if _condition(obj, "Complete").get("status") == "True":
        return Health.HEALTHY, f"{(obj.get('status') or {}).get('succeeded', 0)} completions"
    return Health.PROGRESSING, "running"


def _pvc_health(obj: dict[str, Any]) -> tuple[Health, str]:
    phase = (obj.get("status") or {}).get("phase", "")
    if phase == "Bound":
        return Health.HEALTHY, "bound"
    return (Health.DEGRADED if phase == "Lost" else Health.PROGRESSING), phase.lower() or "pending"


def object_health(obj: dict[str, Any], endpoints: dict[str, dict[str, Any]] | None = None) -> tuple[Health, str]:
    kind = obj.get("kind")
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return workload_health(obj)
    if kind == "Pod":
        return _pod_health(obj)
    if kind == "Job":
        return _job_health(obj)
    if kind == "PersistentVolumeClaim":
        return _pvc_health(obj)
    if kind == "Service" and (obj.get("spec") or {}).get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return (Health.HEALTHY, "address assigned") if ingress else (Health.PROGRESSING, "waiting for an address")
    return Health.HEALTHY, ""


# ---- drift ------------------------------------------------------------------------------------------------


def drift(want: Any, live: Any, path: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The fields ``want`` (the manifest) sets that ``live`` does not have as set: [{"path", "want", "live"}]."""
    if path in IGNORED_PATHS:
        return []
    if isinstance(want, dict):
        live = live if isinstance(live, dict) else {}
        return [d for key, value in want.items() for d in drift(value, live.get(key), (*path, str(key)))]
    if isinstance(want, list) and isinstance(live, list) and len(want) == len(live):
        return [d for i, value in enumerate(want) for d in drift(value, live[i], (*path, str(i)))]
    if want == live or (want is not None and live is not None and str(want) == str(live)):
        return []
    return [{"path": ".".join(path), "want": want, "live": live}]


# ---- the tree of one release --------------------------------------------------------------------------------


def _owned_by(objects: dict[str, dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    return [o for o in objects.values() if uid in {r.get("uid") for r in o["metadata"].get("ownerReferences") or []}]


def _children(lister: NamespaceLister, obj: dict[str, Any]) -> list[LiveObject]:
    child_kind = {"Deployment": "ReplicaSet", "ReplicaSet": "Pod", "StatefulSet": "Pod", "Job": "Pod"}.get(obj["kind"])
    if child_kind is None:
        return []
    children = []
    for child in _owned_by(lister.objects(child_kind), obj["metadata"].get("uid", "")):
        if child_kind == "ReplicaSet" and not (child.get("spec") or {}).get("replicas"):
            continue  # an old revision scaled to zero: not part of what runs
        health, message = object_health(child)
        node = LiveObject(child_kind, child["metadata"]["name"], health, message, children=_children(lister, child))
        if health != Health.HEALTHY:  # only then is the Events list read (one request per check)
            node.events = lister.warnings(child_kind, node.name)
        children.append(node)
    return children


def release_tree(lister: NamespaceLister, manifest: list[dict[str, Any]]) -> list[LiveObject]:
    """Each manifest object with its live health, sync, drift and dependents."""
    nodes = []
    for want in manifest:
        kind, name = want["kind"], (want.get("metadata") or {}).get("name", "")
        live = lister.objects(kind, want.get("apiVersion", "v1")).get(name)
        if live is None:
            nodes.append(LiveObject(kind, name, Health.MISSING, "not on the cluster", Sync.OUT_OF_SYNC))
            continue
        live = {**live, "kind": kind}
        health, message = object_health(live)
        if kind == "Service" and health == Health.HEALTHY:
            message = _endpoint_facts(lister, name)
        # The API server turns a Secret's stringData into data: compare neither, and never show a value.
        changes = drift({k: v for k, v in want.items() if k not in ("apiVersion", "kind", "stringData")}, live)
        if kind == "Secret":
            changes = [{"path": c["path"], "want": "(hidden)", "live": "(hidden)"} for c in changes]
        sync = Sync.OUT_OF_SYNC if changes else Sync.SYNCED
        node = LiveObject(kind, name, health, message, sync, changes[:20], _children(lister, live))
        if health != Health.HEALTHY:
            node.events = lister.warnings(kind, name)
        nodes.append(node)
    return nodes


def _endpoint_facts(lister: NamespaceLister, name: str) -> str:
    endpoints = lister.objects("Endpoints").get(name)
    if endpoints is None:
        return ""
    count = sum(len(s.get("addresses") or []) for s in endpoints.get("subsets") or [])
    return f"{count} endpoint{'s' if count != 1 else ''}"


def tree_health(nodes: list[LiveObject]) -> Health:
    return worst([n.health for n in nodes] + [tree_health(n.children) for n in nodes if n.children])


def tree_sync(nodes: list[LiveObject]) -> Sync:
    return Sync.OUT_OF_SYNC if any(n.sync == Sync.OUT_OF_SYNC for n in nodes) else Sync.SYNCED


__all__ = ["Health", "KubeError", "LiveObject", "NamespaceLister", "Sync", "release_manifest", "release_tree"]
