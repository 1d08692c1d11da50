"""Security checks on rendered manifests (``helm template``), since a chart can turn on what values never name.

Each problem is reported as ``Kind/name: field.path`` so a user can find it in the chart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Where each workload kind keeps its pod spec; other kinds with a ``spec.template.spec`` are checked too.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
DEFAULT_POD_SPEC_PATH = ("spec", "template", "spec")
HOST_NAMESPACE_FIELDS = ("hostNetwork", "hostPID", "hostIPC")
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
DANGEROUS_CAPABILITIES = {"SYS_ADMIN", "NET_ADMIN", "ALL"}


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _container_problems(container: dict[str, Any], at: str) -> list[str]:
    security = container.get("securityContext")
    if not isinstance(security, dict):
        return []
    problems = [f"{at}.securityContext.{field}" for field in ("privileged", "allowPrivilegeEscalation")
                if security.get(field) is True]
    added = _dig(security, ("capabilities", "add")) or []
    for index, capability in enumerate(added if isinstance(added, list) else []):
        if str(capability).upper().removeprefix("CAP_") in DANGEROUS_CAPABILITIES:
            problems.append(f"{at}.securityContext.capabilities.add[{index}] ({capability})")
    return problems


def pod_spec_problems(spec: dict[str, Any], at: str) -> list[str]:
    """Problems in one pod spec found at dotted path ``at``."""
    problems = [f"{at}.{field}" for field in HOST_NAMESPACE_FIELDS if spec.get(field) is True]
    for index, volume in enumerate(spec.get("volumes") or []):
        if isinstance(volume, dict) and volume.get("hostPath") is not None:
            problems.append(f"{at}.volumes[{index}].hostPath ({volume.get('name', '?')})")
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(list_name) or []):
            if isinstance(container, dict):
                problems += _container_problems(container, f"{at}.{list_name}[{index}]")
    return problems


def resource_problems(resource: dict[str, Any]) -> list[str]:
    kind = str(resource.get("kind") or "?")
    name = str(_dig(resource, ("metadata", "name")) or "?")
    path = POD_SPEC_PATHS.get(kind, DEFAULT_POD_SPEC_PATH)
    spec = _dig(resource, path)
    if not isinstance(spec, dict):
        return []
    return [f"{kind}/{name}: {problem}" for problem in pod_spec_problems(spec, ".".join(path))]


def check_manifests(resources: Iterable[dict[str, Any] | None]) -> list[str]:
    """Every refused setting across the rendered objects (empty when the release is acceptable)."""
    problems: list[str] = []
    for resource in resources:
        if isinstance(resource, dict):
            problems += resource_problems(resource)
    return problems
