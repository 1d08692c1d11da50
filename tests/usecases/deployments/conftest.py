"""Fixtures for deployment tests: the real catalog templates, a sandbox cluster on the Kubernetes API
stand-in (a contract fake: Helm installs into it, nothing runs) and the pinned real helm.

django-q2 runs tasks inline (``sync: True``), so a request that starts work runs the whole pipeline when its
transaction commits; ``call`` captures and executes those on-commit callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clusterjobs import services as cluster_services
from usecases.catalog_sync import template_sync_catalog
from usecases.models.deployments import UseCaseDeployment

HELM_TIMEOUT_SECONDS = 20


@pytest.fixture
def catalog(db):
    """The catalog templates (agent-rag, rag-chatbot, ...) as system templates."""
    template_sync_catalog()


@pytest.fixture
def deploy_settings(settings, helm_binary):
    settings.HELM_BINARY = helm_binary
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = HELM_TIMEOUT_SECONDS
    settings.USE_PIPELINE_ORCHESTRATION = True
    return settings


@pytest.fixture
def sandbox(owner, kube_standin, deploy_settings):
    cluster = cluster_services.cluster_create(
        owner=owner, name="sandbox", kubeconfig=kube_standin.kubeconfig(), is_sandbox=True
    )
    cluster.standin = kube_standin
    return cluster


@pytest.fixture
def call(django_capture_on_commit_callbacks) -> Callable:
    """``call(client.post, url, json)``: a request whose queued tasks (the pipeline, helm jobs) run inline."""

    def _call(method: Callable, url: str, data: Any = None):
        with django_capture_on_commit_callbacks(execute=True):
            if data is None:
                return method(url)
            return method(url, data, content_type="application/json")

    return _call


@pytest.fixture
def create(owner_api, sandbox, catalog) -> Callable:
    """POST /api/deployments for agent-rag on the sandbox; returns the JSON body (asserts 201)."""

    def _create(name: str = "my-rag", template: str = "agent-rag", **extra: Any) -> dict:
        body = {"name": name, "template": template, "cluster_id": str(sandbox.pk), **extra}
        response = owner_api.post("/api/deployments", body, content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()

    return _create


def components(deployment_id: str) -> dict[str, Any]:
    deployment = UseCaseDeployment.objects.get(pk=deployment_id)
    return {c.component_name: c for c in deployment.components.all()}
