"""The last health check of a deployment: what the resource tree showed, when, and when to look again.

One row per deployment, written only by ``usecases.services.health``. ``notified_health`` remembers the last
bad health the owner was told about, so a deployment that stays Degraded is announced once, not every sweep.
"""

from __future__ import annotations

from django.db import models

from usecases.models.deployments import UseCaseDeployment


class DeploymentHealth(models.Model):
    deployment = models.OneToOneField(
        UseCaseDeployment, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    health = models.CharField(max_length=16, default="Unknown")  # clusterjobs.resources.Health
    sync = models.CharField(max_length=16, default="Unknown")  # clusterjobs.resources.Sync
    reason = models.TextField(blank=True, help_text="Why the health is Unknown (e.g. the cluster is unreachable).")
    components = models.JSONField(default=list, blank=True)  # [{name, release, health, sync, objects: [...]}]
    checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive checks that could not read the cluster.")
    notified_health = models.CharField(max_length=16, blank=True)

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.health}/{self.sync}"
