"""Validation and normalisation of a job's ``config``: at create (→ 422) and again in the worker.

Install jobs (every type but ``helm_uninstall``)::

    {"chart_ref": "charts/qdrant" | "oci://…" | "https://…", "chart_version": "1.2.0"?,
     "release_name": "vector-db", "namespace": "uc-1a2b3c4d", "values": {...}, "timeout": 600 | "10m"?,
     "deployment_id": "<uuid>"?}

Uninstall jobs::

    {"namespace": "uc-1a2b3c4d", "releases": ["llm", "vector-db"], "delete_namespace": true?, "timeout": …?}

Names become DNS-1123 labels (``Vector_DB`` → ``vector-db``); the namespace must be a deployment's own
``uc-<8 hex>`` namespace, so a job can never touch ``kube-system`` or another tenant's namespace.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from budportal.errors import ServiceValidationError
from clusterjobs import validators
from clusterjobs.models import JobType
from pipelines import outbound

HELM_RELEASE_NAME_MAX = 53  # Helm's own limit (release names become label values with suffixes)
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_VERSION = re.compile(r"^[0-9A-Za-z.+\-~^<>=*|, ]{1,100}$")
_PASSTHROUGH_KEYS = ("deployment_id", "component_name", "execution_id", "step_id")

Errors = list[dict[str, Any]]


def parse_timeout(value: Any) -> int | None:
    """Seconds from ``600``, ``"600"``, ``"600s"``, ``"10m"``, ``"1h30m"``; None when absent or invalid."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value > 0 else None
    text = str(value).strip()
    if text.isdigit():
        return int(text) or None
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds or None


def _label(value: Any, loc: tuple, errors: Errors, *, max_length: int = 63) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append({"loc": list(loc), "msg": "required"})
        return ""
    try:
        label = validators.dns_label(value)
    except ValueError:
        label = ""
    if not validators.is_dns_label(label) or len(label) > max_length:
        errors.append(
            {
                "loc": list(loc),
                "msg": f"{value!r} is not a valid name (lowercase letters, digits and "
                f"dashes, at most {max_length} characters)",
            }
        )
    return label


def _namespace(value: Any, errors: Errors) -> str:
    loc = ("config", "namespace")
    namespace = _label(value, loc, errors)
    if namespace and not validators.is_deployment_namespace(namespace):
        errors.append(
            {
                "loc": list(loc),
                "msg": f"namespace {namespace!r} is not allowed: jobs may only use a "
                "deployment's own namespace, uc-<8 hex digits>",
            }
        )
    return namespace


def _timeout(config: dict[str, Any], errors: Errors) -> int | None:
    if config.get("timeout") in (None, ""):
        return None
    seconds = parse_timeout(config["timeout"])
    if seconds is None or seconds > MAX_TIMEOUT_SECONDS:
        errors.append(
            {
                "loc": ["config", "timeout"],
                "msg": "timeout must be seconds (600) or a duration ('10m', '1h'), at most 7 days",
            }
        )
    return seconds


def _chart_host_problem(ref: str) -> str | None:
    """A remote chart ref whose host is written as a non-public address is refused at once (422); names are
    resolved and checked when the job runs (``clusterjobs.helm.jobs.check_chart_host``)."""
    if validators.chart_ref_kind(ref) in (None, "bundled"):
        return None
    return outbound.numeric_host_refusal(urlsplit(ref).hostname or "")


def _install_config(config: dict[str, Any], errors: Errors) -> dict[str, Any]:
    chart_ref = config.get("chart_ref")
    problem = validators.validate_chart_ref(chart_ref) or _chart_host_problem(chart_ref)
    if problem:
        errors.append({"loc": ["config", "chart_ref"], "msg": problem})
    version = config.get("chart_version")
    if version not in (None, "") and (not isinstance(version, str) or not _VERSION.match(version)):
        errors.append(
            {
                "loc": ["config", "chart_version"],
                "msg": "chart_version must be a version or a constraint such as '1.2.0' or '>=1.0 <2'",
            }
        )
    values = config.get("values") or {}
    if not isinstance(values, dict):
        errors.append({"loc": ["config", "values"], "msg": "values must be a mapping"})
        values = {}
    errors += validators.find_blocked_values(values, loc=("config", "values"))
    return {
        **_helm_options(config, errors),
        "chart_ref": chart_ref,
        "chart_version": version or None,
        "release_name": _label(
            config.get("release_name"), ("config", "release_name"), errors, max_length=HELM_RELEASE_NAME_MAX
        ),
        "namespace": _namespace(config.get("namespace"), errors),
        "values": values,
    }


ACCESS_KINDS = ("ui", "api")
_ACCESS_PATH = re.compile(r"^/[A-Za-z0-9._~/-]{0,200}$")


def clean_access(access: Any, loc: tuple[str | int, ...], errors: Errors) -> dict[str, Any] | None:
    """``{port, path, kind}``: the component's Service port the portal exposes at an access URL."""
    if access in (None, {}):
        return None
    if not isinstance(access, dict) or set(access) - {"port", "path", "kind"}:
        errors.append({"loc": list(loc), "msg": "access must be {port, path, kind} (kind ui or api)"})
        return None
    port, path, kind = access.get("port"), access.get("path", "/"), access.get("kind", "ui")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        errors.append({"loc": [*loc, "port"], "msg": "port must be a Service port number (1-65535)"})
    if not isinstance(path, str) or not _ACCESS_PATH.match(path) or ".." in path or "//" in path:
        errors.append({"loc": [*loc, "path"], "msg": "path must be an absolute URL path such as / or /ui"})
    if kind not in ACCESS_KINDS:
        errors.append({"loc": [*loc, "kind"], "msg": "kind must be ui or api"})
    return {"port": port, "path": path, "kind": kind}


def _helm_options(config: dict[str, Any], errors: Errors) -> dict[str, Any]:
    """Per-component Helm options (README "Helm options"): create the namespace (default yes), remove what a
    failed first install created (default no), and the access URL to publish."""
    options: dict[str, Any] = {}
    for key, default in (("create_namespace", True), ("delete_on_failure", False)):
        value = config.get(key, default)
        if value is None:
            value = default
        if not isinstance(value, bool):
            errors.append({"loc": ["config", key], "msg": f"{key} must be true or false"})
        options[key] = value is True
    access = clean_access(config.get("access"), ("config", "access"), errors)
    if access:
        options["access"] = access
    return options


def _uninstall_config(config: dict[str, Any], errors: Errors) -> dict[str, Any]:
    releases = config.get("releases")
    if releases is None and config.get("release_name"):
        releases = [config["release_name"]]
    if not isinstance(releases, list):
        errors.append({"loc": ["config", "releases"], "msg": "releases must be a list of release names"})
        releases = []
    names = [
        _label(name, ("config", "releases", i), errors, max_length=HELM_RELEASE_NAME_MAX)
        for i, name in enumerate(releases)
    ]
    return {
        "releases": names,
        "namespace": _namespace(config.get("namespace"), errors),
        "delete_namespace": config.get("delete_namespace", True) is not False,
    }


def _check_uuid(value: Any, loc: tuple, errors: Errors) -> None:
    if value in (None, ""):
        return
    try:
        uuid.UUID(str(value))
    except ValueError:
        errors.append({"loc": list(loc), "msg": f"{value!r} is not a UUID"})


def clean_job_config(job_type: str, config: Any) -> dict[str, Any]:
    """The normalised config, or ``ServiceValidationError`` listing every problem with its ``loc``."""
    if not isinstance(config, dict):
        raise ServiceValidationError.at(("config",), "config must be a mapping")
    errors: Errors = []
    if job_type == JobType.HELM_UNINSTALL:
        cleaned = _uninstall_config(config, errors)
    else:
        cleaned = _install_config(config, errors)
    timeout = _timeout(config, errors)
    _check_uuid(config.get("deployment_id"), ("config", "deployment_id"), errors)
    if errors:
        raise ServiceValidationError(errors)
    if timeout:
        cleaned["timeout"] = timeout
    cleaned.update({key: str(config[key]) for key in _PASSTHROUGH_KEYS if config.get(key)})
    return cleaned
