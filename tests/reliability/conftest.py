"""Fixtures for reliability tests: real processes (``LiveStack``: migrate + qcluster + daphne) deploying into the
Kubernetes API stand-in with the real helm, and the in-process deployment fixtures for event-level tests.

Live stacks run in both passes of ``scripts/test.sh``: on a SQLite file in the embedded pass, and on an isolated
PostgreSQL database + Redis (``tests.production.services``) when ``DATABASE_URL`` and ``REDIS_URL`` are set.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest

from clusterjobs.standin import KubeStandIn
from tests.livestack import LiveStack
from tests.usecases.deployments.conftest import call, catalog, create, deploy_settings, sandbox  # noqa: F401 (fixtures)

PRODUCTION = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
TERMINAL = {"running", "failed", "stopped"}


def services() -> AbstractContextManager[dict[str, str]]:
    """Service URLs for a LiveStack: an isolated PostgreSQL database + Redis in the production pass, else none."""
    if not PRODUCTION:
        return nullcontext({})
    from tests.production.services import isolated_services

    return isolated_services()


class DeployStack:
    """A LiveStack with the stand-in registered as a cluster; helpers for deployments over the real API."""

    def __init__(self, stack: LiveStack, standin: KubeStandIn) -> None:
        self.stack, self.standin = stack, standin
        status, cluster = stack.api(
            "POST", "/api/clusters", json={"name": "sandbox", "kubeconfig": standin.kubeconfig()}
        )
        assert status == 201, cluster
        self.cluster_id = cluster["id"]

    def create(self, name: str, template: str = "valkey-cache") -> dict[str, Any]:
        status, body = self.stack.api(
            "POST", "/api/deployments", json={"name": name, "template": template, "cluster_id": self.cluster_id}
        )
        assert status == 201, body
        return body

    def start(self, deployment_id: str) -> None:
        status, body = self.stack.api("POST", f"/api/deployments/{deployment_id}/start")
        assert status == 200, body

    def get(self, deployment_id: str) -> dict[str, Any]:
        status, body = self.stack.api("GET", f"/api/deployments/{deployment_id}")
        assert status == 200, body
        return body

    def wait_finished(self, deployment_id: str, timeout: float = 90) -> dict[str, Any]:
        self.stack.wait_for(lambda: self.get(deployment_id)["status"] in TERMINAL, timeout=timeout, interval=0.3)
        return self.get(deployment_id)

    def release_records(self, namespace: str, release: str) -> list[dict[str, Any]]:
        """Helm's release Secrets (one per revision) in the stand-in."""
        return self.standin.objects("Secret", namespace, label_selector=f"owner=helm,name={release}")


def restart_daphne(stack: LiveStack) -> None:
    """Kill daphne (SIGKILL: no goodbye to open streams) and start a new one; ``stack.url`` gets its new port."""
    stack.kill("daphne", signal.SIGKILL)
    (stack.dir / "daphne.log").unlink()
    stack._spawn(
        "daphne",
        [sys.executable, "-m", "daphne", "-e", "tcp:0:interface=127.0.0.1", "budportal.asgi:application"],
        LOG_LEVEL="INFO",
    )
    stack.url = f"http://127.0.0.1:{stack._wait_for_port()}"
    stack._wait_until_healthy()


@pytest.fixture
def live_deploy(helm_binary: str) -> Iterator[DeployStack]:
    """Real qcluster (2 workers) + daphne on their own database, deploying into a fresh stand-in."""
    env = {
        "HELM_BINARY": helm_binary,
        "PIPELINE_STEP_LEASE_SECONDS": "3",
        "HELM_DEFAULT_TIMEOUT_SECONDS": "30",
        "LOG_LEVEL": "INFO",
    }
    with KubeStandIn().start() as standin, services() as urls, LiveStack(workers=2, env={**env, **urls}) as stack:
        yield DeployStack(stack, standin)
