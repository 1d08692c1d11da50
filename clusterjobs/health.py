"""Cluster health: the API server answers ``/version`` and ``/readyz`` with the kubeconfig's credentials."""

from __future__ import annotations

import time
from typing import Any

from budportal.errors import ServiceValidationError
from clusterjobs.kube import KubeClient, KubeError
from clusterjobs.kubeconfig import parse_kubeconfig

HEALTH_TIMEOUT_SECONDS = 5.0


def _readyz(client: KubeClient) -> str | None:
    """None when ready; else why not. Servers without ``/readyz`` (older than 1.16) fall back to ``/healthz``."""
    for path in ("/readyz", "/healthz"):
        response = client.request("GET", path)
        if response.status == 404:
            continue
        if response.status in (401, 403):
            return f"the API server refused the kubeconfig's credentials (HTTP {response.status})"
        if response.status != 200:
            return f"{path} answered HTTP {response.status}: {response.body[:200].decode(errors='replace')}"
        return None
    return None


def check_health(kubeconfig: str, *, timeout: float = HEALTH_TIMEOUT_SECONDS) -> dict[str, Any]:
    """``{"healthy", "server_version", "latency_ms", "error"}``; never raises, never echoes credentials."""
    started = time.perf_counter()
    version: str | None = None
    try:
        client = KubeClient(parse_kubeconfig(kubeconfig), timeout=timeout)
        info = client.get_json("/version")
        version = (info or {}).get("gitVersion") if isinstance(info, dict) else None
        error = _readyz(client)
    except ServiceValidationError as exc:
        error = f"bad kubeconfig: {exc.errors[0]['msg']}"
    except KubeError as exc:
        error = str(exc)
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return {"healthy": error is None, "server_version": version, "latency_ms": latency_ms, "error": error}
