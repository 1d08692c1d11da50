"""The app's models, one module per domain; imported here so Django registers them under the ``usecases`` label."""

from usecases.models.deployments import (
    ComponentDeployment,
    ComponentStatus,
    DeploymentRevision,
    DeploymentStatus,
    RevisionKind,
    RevisionStatus,
    UseCaseDeployment,
)
from usecases.models.health import DeploymentHealth
from usecases.models.templates import UseCaseTemplate

__all__ = [
    "ComponentDeployment",
    "ComponentStatus",
    "DeploymentHealth",
    "DeploymentRevision",
    "DeploymentStatus",
    "RevisionKind",
    "RevisionStatus",
    "UseCaseDeployment",
    "UseCaseTemplate",
]
