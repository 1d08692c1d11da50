"""Rows for list tests, made directly with the ORM: paging and filtering are about the rows, not how they
got there."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from clusterjobs import services as cluster_services
from tests.clusterjobs.conftest import make_kubeconfig
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment


@pytest.fixture
def make_cluster() -> Callable:
    def _make(owner, name: str):
        return cluster_services.cluster_create(owner=owner, name=name, kubeconfig=make_kubeconfig())

    return _make


@pytest.fixture
def make_deployments(db) -> Callable:
    """``make_deployments(owner, n, status=..., template=..., cluster=...)``: n rows, one minute apart, the
    last one newest; names ``<prefix>-000`` upwards."""

    def _make(
        owner, n: int, *, prefix: str = "app", status: str = DeploymentStatus.RUNNING, template="rag", cluster=None
    ):
        now = timezone.now()
        rows = [
            UseCaseDeployment(
                owner=owner,
                name=f"{prefix}-{i:03d}",
                template_name=template,
                template_version="1.0.0",
                status=status,
                cluster=cluster,
                namespace=f"ns-{prefix}-{i}",
                created_at=now - timedelta(minutes=n - i),
            )
            for i in range(n)
        ]
        return UseCaseDeployment.objects.bulk_create(rows)

    return _make
