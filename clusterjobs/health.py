"""Cluster health: the API server answers ``/version`` and ``/readyz`` with the kubeconfig's credentials."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.views.decorators.debug import sensitive_variables

from budportal.errors import ServiceValidationError
from clusterjobs.kube import KubeClient, KubeError, status_text
from clusterjobs.kubeconfig import parse_kubeconfig

logger = logging.getLogger(__name__)
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
            # Status and phrase only: the body is whatever the server at the kubeconfig's URL chose to say.
            return f"{path} answered {status_text(response.status)}"
        return None
    return None


@sensitive_variables("kubeconfig")
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
    except Exception:  # noqa: BLE001 - a health badge is never a 500; the cause is logged, not shown
        logger.exception("cluster health check failed unexpectedly")
        error = "the API server could not be checked (internal error)"
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return {"healthy": error is None, "server_version": version, "latency_ms": latency_ms, "error": error}
