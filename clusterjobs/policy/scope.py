"""Which Kubernetes API requests a job's Helm may make: its own namespace, discovery, and what the
cluster's admin allowed. Everything else is refused, reads included: a chart's ``lookup`` could otherwise
copy another namespace's Secrets into the release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from clusterjobs.policy.objects import mapping
from clusterjobs.policy.pss import Level

# (group/version, plural) -> (kind, namespaced) from the API server's discovery; None when it has no such
# resource.
Resolver = Callable[[str, str], "tuple[str, bool] | None"]

DISCOVERY_PREFIXES = ("/openapi/v2", "/openapi/v3")
HEALTH_PATHS = frozenset({"/version", "/healthz", "/readyz", "/livez", "/api", "/apis"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# Helm lists CRDs before installing a chart's crds/ directory; reading them reveals nothing secret.
READABLE_CLUSTER_KINDS = frozenset({"CustomResourceDefinition"})


@dataclass(frozen=True)
class Policy:
    """What one job may do on its cluster."""

    namespace: str
    level: Level = Level.BASELINE
    allowed_cluster_kinds: frozenset[str] = field(default_factory=frozenset)

    def allows_cluster_kind(self, kind: str, group: str) -> bool:
        return kind in self.allowed_cluster_kinds or f"{kind}.{group}" in self.allowed_cluster_kinds


@dataclass(frozen=True)
class Target:
    """A resource request: ``namespace`` is "" for cluster-scoped kinds."""

    group_version: str
    plural: str
    kind: str
    namespaced: bool
    namespace: str
    name: str

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]


class Refused(Exception):
    """The request is outside the job's policy; the message says why, for Helm to show."""


def _is_discovery(path: str, parts: list[str]) -> bool:
    if path in HEALTH_PATHS or path.startswith(DISCOVERY_PREFIXES):
        return True
    return parts[:2] == ["api", "v1"] and len(parts) == 2 or parts[:1] == ["apis"] and len(parts) in (2, 3)


def _split(parts: list[str]) -> tuple[str, list[str]]:
    if parts[:2] == ["api", "v1"]:
        return "v1", parts[2:]
    return f"{parts[1]}/{parts[2]}", parts[3:]


def parse_target(path: str, resolve: Resolver) -> Target | None:
    """The resource a path names, or None for discovery/health; ``Refused`` for anything else."""
    if (
        not path.startswith("/")
        or "%" in path
        or "\\" in path
        or any(segment in (".", "..") for segment in path.split("/"))
        or "//" in path.rstrip("/")
    ):
        # The API server decodes and cleans paths; a path that needs either could name something else there.
        raise Refused(f"the path {path!r} is not in canonical form")
    path = "/" + path.strip("/")
    parts = [p for p in path.split("/") if p]
    if _is_discovery(path, parts):
        return None
    if parts[:2] != ["api", "v1"] and not (parts[:1] == ["apis"] and len(parts) >= 4):
        raise Refused(f"the path {path} is not a Kubernetes resource path")
    group_version, rest = _split(parts)
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 2:
        raise Refused(f"subresource {'/'.join(rest[2:])!r} of {rest[0]} is not something a Helm release needs")
    found = resolve(group_version, rest[0])
    if found is None:
        raise Refused(f"the API server has no resource {rest[0]!r} in {group_version}")
    kind, namespaced = found
    if namespace and not namespaced:
        raise Refused(f"{kind} is cluster-scoped; it has no namespace {namespace!r}")
    return Target(group_version, rest[0], kind, namespaced, namespace, rest[1] if len(rest) > 1 else "")


def _check_namespaced(method: str, target: Target, policy: Policy) -> None:
    if not target.namespace:
        raise Refused(f"{target.kind} across all namespaces is outside the deployment's namespace {policy.namespace}")
    if target.namespace != policy.namespace:
        raise Refused(
            f"{target.kind} {target.namespace}/{target.name or '*'} is outside the deployment's "
            f"namespace {policy.namespace}"
        )
    if method == "DELETE" and not target.name:
        raise Refused(f"deleting every {target.kind} at once is not something a Helm release needs")


def _check_cluster_scoped(method: str, target: Target, policy: Policy) -> None:
    if target.kind == "Namespace" and target.group_version == "v1":
        if target.name == policy.namespace or (method == "POST" and not target.name):
            return  # a POST's body name is checked against the namespace by the caller
        raise Refused(f"Namespace {target.name or '*'} is not the deployment's namespace {policy.namespace}")
    if policy.allows_cluster_kind(target.kind, target.group):
        if method == "DELETE" and not target.name:
            raise Refused(f"deleting every {target.kind} at once is not something a Helm release needs")
        return
    if method == "GET" and target.kind in READABLE_CLUSTER_KINDS:
        return
    raise Refused(
        f"cluster-scoped {target.kind} {target.name or ''} is not allowed on this cluster: a release may "
        f"only create objects in its own namespace (the cluster's admin can allow a kind)".replace("  ", " ")
    )


def check_request(method: str, path: str, policy: Policy, resolve: Resolver) -> Target | None:
    """The target of an allowed request (None for discovery); ``Refused`` with the reason otherwise."""
    if method not in METHODS:
        raise Refused(f"{method} requests are not something a Helm release needs")
    target = parse_target(path, resolve)
    if target is None:
        if method != "GET":
            raise Refused(f"{method} {path} is not allowed: discovery is read-only")
        return None
    if target.namespaced:
        _check_namespaced(method, target, policy)
    else:
        _check_cluster_scoped(method, target, policy)
    return target


def body_scope_problems(obj: dict, target: Target, policy: Policy) -> list[str]:
    """The body of a write must name the object and namespace its path names (the API server checks this
    too; checking here keeps the refusal's reason ours)."""
    metadata = mapping(obj.get("metadata"))
    problems = []
    namespace = metadata.get("namespace")
    if target.namespaced and namespace not in (None, "", policy.namespace):
        problems.append(f"metadata.namespace {namespace!r} is outside the deployment's namespace {policy.namespace}")
    if target.kind == "Namespace" and target.group_version == "v1" and metadata.get("name") != policy.namespace:
        problems.append(f"Namespace {metadata.get('name')!r} is not the deployment's namespace {policy.namespace}")
    return problems
