"""Deployments of use-case templates: one ``UseCaseDeployment`` per install, one ``ComponentDeployment`` per
component it installs.

Statuses are lowercase, as BudUseCases spells them (docs/architecture.md). Every change goes through
``usecases.services.deployments`` or ``usecases.listener`` as a compare-and-set
(``filter(pk=..., status__in=ALLOWED_FROM).update(...)``); the ``last_event_id`` columns let the listener
refuse an event older than one it already applied, so a late or redelivered event never moves a status
backwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class DeploymentStatus(models.TextChoices):
    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DELETING = "deleting"


class ComponentStatus(models.TextChoices):
    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"


class UseCaseDeployment(models.Model):
    """A template installed on a cluster, with the template as it was when the deployment was created."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=40, help_text="Lowercase DNS label; prefixes the Helm release names.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usecase_deployments")
    template = models.ForeignKey(
        "usecases.UseCaseTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    template_name = models.CharField(max_length=63)
    template_version = models.CharField(max_length=64)
    # The template document at create time: later edits of the template never change this deployment.
    template_snapshot = models.JSONField(default=dict)
    cluster = models.ForeignKey(
        "clusterjobs.Cluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="usecase_deployments"
    )
    status = models.CharField(
        max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING, db_index=True
    )
    parameters = models.JSONField(default=dict, blank=True)
    # Per-component Helm value overrides of the revision last applied (merged over the template's values).
    value_overrides = models.JSONField(default=dict, blank=True)
    # The revision whose inputs the cluster runs (0: nothing installed yet); an upgrade that fails keeps it.
    live_revision = models.PositiveIntegerField(default=0)
    notify_webhook_url = models.CharField(max_length=500, blank=True)
    pipeline_execution_id = models.CharField(max_length=64, blank=True, db_index=True)
    # The helm_uninstall run of the last stop/delete, recorded like any execution.
    cleanup_execution_id = models.CharField(max_length=64, blank=True, db_index=True)
    namespace = models.CharField(max_length=63)
    error = models.TextField(blank=True)
    last_event_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="usecase_deployment_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def access_urls(self) -> list[dict[str, str]]:
        return access_urls_of(self.components.all())

    @property
    def uses_pipeline(self) -> bool:
        """True when a pipeline execution orchestrates it; legacy deployments run one job per component."""
        return bool(self.pipeline_execution_id)

    @property
    def deployment_context(self) -> dict[str, Any]:
        """What Jinja sees as ``deployment`` in chart values."""
        return {"id": str(self.pk), "name": self.name, "namespace": self.namespace}


class ComponentDeployment(models.Model):
    """One component of a deployment; it becomes one Helm release (step id = ``component_name``)."""

    deployment = models.ForeignKey(UseCaseDeployment, on_delete=models.CASCADE, related_name="components")
    component_name = models.CharField(max_length=63)
    component_type = models.CharField(max_length=32)
    selected_component = models.CharField(max_length=100, blank=True, help_text="Catalog entry; empty for helm.")
    status = models.CharField(max_length=16, choices=ComponentStatus.choices, default=ComponentStatus.PENDING)
    position = models.PositiveIntegerField(default=0, help_text="Index of the component in the template.")
    job_id = models.CharField(max_length=64, blank=True)
    release_name = models.CharField(max_length=63, blank=True)
    endpoint_url = models.CharField(max_length=500, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    last_event_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "component_name"], name="usecase_component_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.component_name} ({self.status})"

    @property
    def access_url(self) -> str:
        """The public URL the portal published for the component (README "Access URLs"); only while running:
        stopping removes the route."""
        if self.status != ComponentStatus.RUNNING:
            return ""
        url = str((self.outputs or {}).get("access_url") or "")
        return url if url.startswith("https://") else ""

    @property
    def access_kind(self) -> str:
        return str((self.outputs or {}).get("access_kind") or "") if self.access_url else ""


class RevisionKind(models.TextChoices):
    INSTALL = "install"
    UPGRADE = "upgrade"
    ROLLBACK = "rollback"
    REPAIR = "repair"
    RESTART = "restart"


class RevisionStatus(models.TextChoices):
    DRAFT = "draft"
    APPLYING = "applying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeploymentRevision(models.Model):
    """One apply of a deployment (first install, upgrade, rollback, repair, restart) and its recorded inputs,
    or the one draft being edited. Numbered per deployment from 1; the inputs are enough to apply it again."""

    deployment = models.ForeignKey(UseCaseDeployment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=RevisionKind.choices)
    status = models.CharField(max_length=16, choices=RevisionStatus.choices, default=RevisionStatus.DRAFT)
    template_name = models.CharField(max_length=63)
    template_version = models.CharField(max_length=64)
    template_snapshot = models.JSONField(default=dict)
    parameters = models.JSONField(default=dict, blank=True)
    selections = models.JSONField(default=dict, blank=True, help_text="Component → catalog choice ('' for helm).")
    value_overrides = models.JSONField(default=dict, blank=True, help_text="Component → Helm values overrides.")
    # The revision this one was made from (the one rolled back to, or the draft's base).
    source_revision = models.PositiveIntegerField(null=True, blank=True)
    dag = models.JSONField(default=dict, blank=True)
    execution_id = models.CharField(max_length=64, blank=True, db_index=True)
    # Component → {action: upgrade|skip, chart_ref, chart_version, values (previewed), helm_revision, status}.
    components = models.JSONField(default=dict, blank=True)
    changes = models.JSONField(default=list, blank=True, help_text="What changed since the previous revision.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="usecase_revision_unique_number"),
            models.UniqueConstraint(
                fields=["deployment"], condition=models.Q(status="draft"), name="usecase_revision_one_draft"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id} r{self.number} ({self.status})"


def access_urls_of(components: Iterable[ComponentDeployment]) -> list[dict[str, str]]:
    """``[{component, url, kind}]`` for the running components that published an access URL."""
    return [
        {"component": c.component_name, "url": c.access_url, "kind": c.access_kind} for c in components if c.access_url
    ]
