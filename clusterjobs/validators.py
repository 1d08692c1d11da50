"""Checks shared by use-case templates, deployments and cluster jobs.

One module so that a template saved, a deployment created and a Helm job about to run all refuse exactly the
same chart references and the same dangerous values. Every check returns messages instead of raising, so
callers can collect several errors and attach their own ``loc``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from budportal.errors import dotted

# The accepted kinds of chart reference, as returned by ``chart_ref_kind``.
CHART_REF_KINDS = ("oci", "https", "git+https", "git", "bundled")
MAX_CHART_REF_LENGTH = 512

# Values that give a pod host-level access or root-equivalent privileges. Refused when truthy at any depth.
BLOCKED_VALUE_KEYS = ("hostNetwork", "hostPID", "hostIPC", "privileged", "allowPrivilegeEscalation")
_BLOCKED_LOWER = {key.lower(): key for key in BLOCKED_VALUE_KEYS}
# Strings that clearly mean "off". Any other non-empty string (including a Jinja expression that might render
# to true) counts as truthy, because Go templates treat every non-empty string as true.
_FALSY_STRINGS = {"", "false", "0", "no", "off", "null", "none", "~"}

_SHELL_CHARS = set(";|&$`()<>'\"\\{}*?!#^~[]%,")
_HOST = r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*)"
_PORT = r"(?::(?P<port>[0-9]{1,5}))?"
_PATH = r"(?P<path>(?:/[A-Za-z0-9][A-Za-z0-9._+-]*)+)"
_REMOTE_REF = re.compile(rf"^(?P<scheme>oci|https)://{_HOST}{_PORT}{_PATH}$")
# A chart at a path of a git repository (Terraform's "//subdir" form); the git ref is the chart version.
_GIT_REF = re.compile(
    rf"^(?P<scheme>git\+https|git)://{_HOST}{_PORT}{_PATH}(?://(?P<sub>[A-Za-z0-9][A-Za-z0-9._+/-]*))?$"
)
_BUNDLED_REF = re.compile(r"^charts/(?P<name>[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)$")
_REF_FORMS = "oci://host/path, https://host/path, git+https://host/repo.git//path or charts/<name>"

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_DEPLOYMENT_NAMESPACE = re.compile(r"^uc-[0-9a-f]{8}$")


def _ref_syntax_error(ref: str) -> str | None:
    """Refusals that do not depend on which kind of ref this is; the order gives the most useful message."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in ref):
        return "chart ref must not contain whitespace or control characters"
    bad = sorted({ch for ch in ref if ch in _SHELL_CHARS})
    if bad:
        return f"chart ref contains characters that are not allowed: {' '.join(bad)}"
    if ".." in ref:
        return "chart ref must not contain '..'"
    lowered = ref.lower()
    if lowered.startswith("http://"):
        return "plain http:// chart refs are refused; use https:// or oci://"
    if lowered.startswith("file:"):
        return "file: chart refs are refused; bundle the chart in charts/ and use charts/<name>"
    if "@" in ref:
        return "credentials in the chart ref are refused; configure registry credentials on the cluster instead"
    return None


def chart_ref_kind(ref: str) -> str | None:
    """``"oci"``, ``"https"``, ``"git+https"``, ``"git"`` or ``"bundled"`` for a well-formed ref (existence not
    checked), else None."""
    if not isinstance(ref, str) or _ref_syntax_error(ref) or len(ref) > MAX_CHART_REF_LENGTH:
        return None
    remote = _REMOTE_REF.match(ref) or _GIT_REF.match(ref)
    if remote:
        port = remote.group("port")
        return remote.group("scheme") if port is None or 0 < int(port) < 65536 else None
    return "bundled" if _BUNDLED_REF.match(ref) else None


def bundled_chart_dir(ref: str, *, charts_dir: Path | None = None) -> Path | None:
    """The directory of a ``charts/<name>`` ref if that chart exists (has a Chart.yaml), else None."""
    match = _BUNDLED_REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        return None
    path = Path(charts_dir if charts_dir is not None else settings.CHARTS_DIR) / match.group("name")
    return path if (path / "Chart.yaml").is_file() else None


def validate_chart_ref(ref: str, *, charts_dir: Path | None = None) -> str | None:
    """An error message for a chart ref that must not reach ``helm``, or None when it is acceptable.

    Accepted: ``oci://host[:port]/path``, ``https://host[:port]/path`` and ``charts/<name>`` for a chart
    bundled in ``settings.CHARTS_DIR`` (or ``charts_dir``).
    """
    if not isinstance(ref, str) or not ref:
        return "chart ref is required"
    if len(ref) > MAX_CHART_REF_LENGTH:
        return f"chart ref is longer than {MAX_CHART_REF_LENGTH} characters"
    syntax = _ref_syntax_error(ref)
    if syntax:
        return syntax
    kind = chart_ref_kind(ref)
    if kind is None:
        return f"invalid chart ref {ref!r}: use {_REF_FORMS}"
    if kind == "git" and not settings.CHART_ALLOW_GIT_PROTOCOL:
        return "git:// chart refs are refused (unencrypted, unauthenticated); use git+https://"
    if kind == "bundled" and bundled_chart_dir(ref, charts_dir=charts_dir) is None:
        return f"no bundled chart {ref!r}: {ref}/Chart.yaml does not exist"
    return None


def _is_truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY_STRINGS
    if isinstance(value, (dict, list, tuple)):
        return len(value) > 0
    return bool(value)


def find_blocked_values(values: Any, loc: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """Every truthy ``hostNetwork``/``hostPID``/``hostIPC``/``privileged``/``allowPrivilegeEscalation``.

    Walks dicts and lists at any depth. Each item is ``{"loc": [...], "msg": "..."}`` with ``loc`` extending
    the given prefix; the message names the dotted path, e.g. ``db.chart.values.sidecars[0].securityContext``.
    """
    found: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[str | int]]] = [(values, list(loc))]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            items: list[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, (list, tuple)):
            items = list(enumerate(node))
        else:
            continue
        for key, child in reversed(items):
            child_path = [*path, key]
            blocked = _BLOCKED_LOWER.get(key.lower()) if isinstance(key, str) else None
            if blocked and _is_truthy(child):
                found.append({"loc": child_path, "msg": _blocked_message(child_path, blocked)})
            stack.append((child, child_path))
    return found


def _blocked_message(path: list[str | int], key: str) -> str:
    return (
        f"{dotted(path)}: '{key}' is not allowed; it would give the workload host-level access or root "
        f"privileges (blocked: {', '.join(BLOCKED_VALUE_KEYS)})"
    )


def dns_label(name: str) -> str:
    """``"Vector_DB.main"`` → ``"vector-db-main"``: a valid Kubernetes DNS label (RFC 1123), ≤ 63 chars."""
    label = re.sub(r"[^a-z0-9-]", "-", str(name).lower())[:63].strip("-")
    if not label:
        raise ValueError(f"cannot make a DNS label from {name!r}")
    return label


def is_dns_label(name: str) -> bool:
    return isinstance(name, str) and bool(_DNS_LABEL.match(name))


def deployment_namespace(deployment_id: uuid.UUID | str) -> str:
    """The namespace every release of one deployment is installed into: ``uc-<first 8 hex of its id>``."""
    return f"uc-{uuid.UUID(str(deployment_id)).hex[:8]}"


def is_deployment_namespace(ns: str) -> bool:
    """True for names ``deployment_namespace`` produces; cleanup never removes any other namespace."""
    return isinstance(ns, str) and bool(_DEPLOYMENT_NAMESPACE.match(ns))
