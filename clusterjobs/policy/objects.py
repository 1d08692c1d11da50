"""Checks on whole Kubernetes objects: every pod template inside them, and the few other fields that reach
the node (a PersistentVolume's hostPath) or weaken the cluster's own enforcement (pod-security labels).

Pod specs are found by shape, not by kind: the workload kinds keep theirs at known paths, but a custom
resource (an Argo Rollout, a KServe service...) embeds pod templates too, and the operator that creates
those pods is not this portal. Any mapping with a container list or a host-namespace field is checked as a
pod spec. A false alarm on an odd custom resource is the price of not missing a real one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from clusterjobs.policy.pss import Level, pod_spec_problems

POD_SPEC_MARKERS = ("containers", "initContainers", "ephemeralContainers", "hostNetwork", "hostPID", "hostIPC")
# Where the workload kinds keep their pod spec: checked even when the markers are missing.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_SECURITY_LABEL = "pod-security.kubernetes.io/"
MAX_DEPTH = 64


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one: objects from a client may have any shape."""
    return value if isinstance(value, dict) else {}


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _pod_specs(node: Any, path: tuple[str | int, ...], depth: int = 0) -> Iterator[tuple[tuple[str | int, ...], dict]]:
    if depth > MAX_DEPTH:
        yield path, {"containers": "nested deeper than the portal reads"}
        return
    if isinstance(node, dict):
        if any(marker in node for marker in POD_SPEC_MARKERS):
            yield path, node
        for key, value in node.items():
            yield from _pod_specs(value, (*path, str(key)), depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _pod_specs(value, (*path, index), depth + 1)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".")


def describe(obj: dict[str, Any]) -> str:
    """``Kind/name`` or ``Kind namespace/name``."""
    metadata = mapping(obj.get("metadata"))
    namespace = metadata.get("namespace")
    name = metadata.get("name") or metadata.get("generateName") or "?"
    return f"{obj.get('kind') or '?'}/{f'{namespace}/' if namespace else ''}{name}"


def pod_problems(obj: dict[str, Any], *, level: Level, kind: str | None = None) -> list[str]:
    kind = kind or str(obj.get("kind") or "")
    found = dict(_pod_specs(obj, ()))
    known = POD_SPEC_PATHS.get(kind)
    if known and known not in found and isinstance(_dig(obj, known), dict):
        found[known] = _dig(obj, known)
    problems: list[str] = []
    for path, spec in found.items():
        meta_path = (*path[:-1], "metadata")
        metadata = _dig(obj, tuple(str(p) for p in meta_path)) if all(isinstance(p, str) for p in meta_path) else None
        problems += pod_spec_problems(
            spec,
            at=_dotted(path) or "(root)",
            metadata=metadata if isinstance(metadata, dict) else None,
            meta_at=_dotted(meta_path),
            level=level,
        )
    return problems


def node_problems(obj: dict[str, Any], kind: str) -> list[str]:
    """What is not a pod but still reaches the node or weakens enforcement."""
    if kind == "PersistentVolume":
        spec = mapping(obj.get("spec"))
        return [
            f"spec.{source} (a volume on the node's filesystem)"
            for source in ("hostPath", "local")
            if spec.get(source) is not None
        ]
    if kind == "Service" and mapping(obj.get("spec")).get("externalIPs"):
        # Any IP, the cluster's own included, would be intercepted on every node (CVE-2020-8554).
        return ["spec.externalIPs (a Service may not claim external IPs)"]
    if kind == "Namespace":
        labels = _dig(obj, ("metadata", "labels"))
        return [
            f"metadata.labels[{key}] (only the cluster's admin sets pod-security labels)"
            for key in (labels if isinstance(labels, dict) else {})
            if str(key).startswith(POD_SECURITY_LABEL)
        ]
    return []


def object_problems(obj: dict[str, Any], *, level: Level, kind: str | None = None) -> list[str]:
    """Every problem of one object, each as ``field.path: what (control)``."""
    kind = kind or str(obj.get("kind") or "")
    return [*pod_problems(obj, level=level, kind=kind), *node_problems(obj, kind)]


def flatten(objects: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The objects, with ``kind: List`` (and ``*List``) wrappers replaced by their items, as Helm does."""
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        if str(obj.get("kind") or "").endswith("List") and isinstance(obj.get("items"), list):
            yield from flatten(obj["items"])
        else:
            yield obj
