"""Parse and check an uploaded kubeconfig, and pull out what the portal's own HTTP client needs.

Only self-contained kubeconfigs are accepted: credentials embedded as data, no ``exec`` or ``auth-provider``
plugins (they run commands on the portal host) and no file paths (they read the portal host's files).
Messages never quote the kubeconfig: it holds credentials.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import yaml

from budportal.errors import ServiceValidationError

LOC = ("kubeconfig",)
MAX_KUBECONFIG_BYTES = 512 * 1024
_FILE_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")
_PLUGIN_KEYS = ("exec", "auth-provider")


@dataclass(frozen=True)
class KubeConfig:
    """The current context's connection details; ``repr`` leaves the credentials out."""

    context: str
    server: str
    namespace: str | None = None
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    token: str | None = None
    username: str | None = None
    password: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None

    def __repr__(self) -> str:
        return f"KubeConfig(context={self.context!r}, server={self.server!r})"


def _error(msg: str) -> ServiceValidationError:
    return ServiceValidationError.at(LOC, msg)


def _load(text: str) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip():
        raise _error("kubeconfig is empty")
    if len(text.encode()) > MAX_KUBECONFIG_BYTES:
        raise _error(f"kubeconfig is larger than {MAX_KUBECONFIG_BYTES // 1024} KiB")
    try:
        data = yaml.safe_load(text)
    except (ValueError, RecursionError):  # an int over 4300 digits; nesting past the parser's stack
        raise _error("kubeconfig holds a value too large or too deeply nested") from None
    except yaml.YAMLError as exc:
        # The parser's message can quote the offending line (a token, a key): give the position only.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise _error(f"kubeconfig is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise _error("kubeconfig must be a YAML mapping with clusters, contexts and users")
    return data


def _named(data: dict[str, Any], section: str, name: str) -> dict[str, Any] | None:
    for entry in data.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(section[:-1])
            return inner if isinstance(inner, dict) else {}
    return None


def _b64(value: Any, what: str) -> bytes | None:
    if value in (None, ""):
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise _error(f"{what} is not valid base64") from None


def _check_self_contained(section: str, name: str, entry: dict[str, Any]) -> None:
    for key in _PLUGIN_KEYS:
        if entry.get(key):
            raise _error(
                f"{section} {name!r} uses '{key}', which would run a command on the portal; "
                "use a token or client certificate instead"
            )
    for key in _FILE_KEYS:
        if entry.get(key):
            raise _error(
                f"{section} {name!r} refers to a file ('{key}'); embed it as '{key}-data' instead"
                if key != "tokenFile"
                else f"{section} {name!r} refers to a token file; embed 'token'"
            )


def parse_kubeconfig(text: str) -> KubeConfig:
    """Parse ``text`` and return its current context's connection details, or raise a 422 error."""
    data = _load(text)
    context_name = data.get("current-context")
    if not context_name:
        raise _error("kubeconfig has no current-context")
    context = _named(data, "contexts", context_name)
    if context is None:
        raise _error(f"current-context {context_name!r} is not among the kubeconfig's contexts")
    cluster_name = context.get("cluster")
    cluster = _named(data, "clusters", cluster_name) if cluster_name else None
    if cluster is None:
        raise _error(f"context {context_name!r} names no cluster in the kubeconfig")
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise _error(f"cluster {cluster_name!r} has no server URL (https://...)")
    _check_self_contained("cluster", cluster_name, cluster)
    user_name = context.get("user")
    user = (_named(data, "users", user_name) if user_name else {}) or {}
    _check_self_contained("user", user_name or "", user)
    return KubeConfig(
        context=context_name,
        server=server.rstrip("/"),
        namespace=context.get("namespace") or None,
        ca_data=_b64(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        token=user.get("token") or None,
        username=user.get("username") or None,
        password=user.get("password") or None,
        client_cert_data=_b64(user.get("client-certificate-data"), "client-certificate-data"),
        client_key_data=_b64(user.get("client-key-data"), "client-key-data"),
    )


_SECRET_KEYS = {"token", "password", "client-key-data", "client-certificate-data", "certificate-authority-data"}


def secret_fragments(text: str) -> list[str]:
    """Every credential string in a kubeconfig, for redacting Helm's error output. Never raises."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return []
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    for section in ("users", "clusters"):
        for entry in data.get(section) or []:
            inner = entry.get(section[:-1]) if isinstance(entry, dict) else None
            if isinstance(inner, dict):
                found += [str(v) for k, v in inner.items() if k in _SECRET_KEYS and v and len(str(v)) >= 6]
    return found
