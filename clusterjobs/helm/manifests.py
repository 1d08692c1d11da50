"""An early, readable check of the rendered chart (``helm template``) before anything reaches the cluster.

The authority is the policy proxy (``clusterjobs.helm.proxy``), which sees exactly what Helm sends; this
pre-check runs the same object checks on the rendered objects so that a plainly refused chart fails before
a namespace or release record exists. It cannot see ``lookup`` results or know every kind's scope, and it
does not need to: whatever it misses, the proxy refuses.

Each problem is reported as ``Kind/name: field.path: what (control)`` so a user can find it in the chart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clusterjobs.policy.objects import describe, flatten, mapping, object_problems
from clusterjobs.policy.pss import Level
from clusterjobs.policy.scope import Policy

# Built-in cluster-scoped kinds, for the early check only (the proxy asks the API server's discovery).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "APIService",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)


def _scope_problems(obj: dict[str, Any], policy: Policy) -> list[str]:
    metadata = mapping(obj.get("metadata"))
    kind = str(obj.get("kind") or "")
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    if kind == "Namespace" and group == "":
        return (
            []
            if metadata.get("name") == policy.namespace
            else [f"only the deployment's own namespace {policy.namespace} may be created"]
        )
    if kind in CLUSTER_SCOPED_KINDS:
        return (
            []
            if policy.allows_cluster_kind(kind, group)
            else [f"cluster-scoped {kind} is not allowed on this cluster (the cluster's admin can allow a kind)"]
        )
    namespace = metadata.get("namespace")
    if namespace not in (None, "", policy.namespace):
        return [f"metadata.namespace {namespace!r} is outside the deployment's namespace {policy.namespace}"]
    return []


def check_manifests(resources: Iterable[dict[str, Any] | None], *, policy: Policy | None = None) -> list[str]:
    """Every refused setting across the rendered objects (empty when the release looks acceptable)."""
    problems: list[str] = []
    level = policy.level if policy else Level.BASELINE
    for obj in flatten(resources):
        found = (_scope_problems(obj, policy) if policy else []) + object_problems(obj, level=level)
        problems += [f"{describe(obj)}: {problem}" for problem in found]
    return problems
