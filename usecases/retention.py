"""What the pipelines app's retention (``pipelines.retention``) must not prune, as only this app knows it:
the events and executions of deployments that are not at rest (something is still moving), and the executions
a deployment still points at (its deploy run and its last uninstall run), whatever their age."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import QuerySet

from pipelines.retention import Protected, protect
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment

# A deployment in these states has work in flight; running, failed, stopped and pending ones are at rest.
NOT_AT_REST = (DeploymentStatus.DEPLOYING, DeploymentStatus.STOPPING, DeploymentStatus.DELETING)


def busy_deployments() -> QuerySet:
    return UseCaseDeployment.objects.filter(status__in=NOT_AT_REST).values("pk")


def referenced_executions() -> Iterable[uuid.UUID]:
    ids = set()
    for pair in UseCaseDeployment.objects.values_list("pipeline_execution_id", "cleanup_execution_id"):
        for value in pair:
            try:
                ids.add(uuid.UUID(value))
            except (TypeError, ValueError):
                continue  # blank: no such run
    return ids


def register() -> None:
    protect("usecases.deployments", Protected(deployments=busy_deployments, executions=referenced_executions))
