"""Clusters (with their kubeconfig encrypted at rest) and the jobs that run Helm against them."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from clusterjobs import crypto


class PodSecurityLevel(models.TextChoices):
    """The Kubernetes Pod Security Standards profile every pod of every release must meet."""

    BASELINE = "baseline", "Baseline (Pod Security Standards)"
    RESTRICTED = "restricted", "Restricted (Pod Security Standards)"


class GatewayKind(models.TextChoices):
    INGRESS = "ingress", "Ingress (networking.k8s.io/v1)"
    HTTPROUTE = "httproute", "HTTPRoute (Gateway API, gateway.networking.k8s.io/v1)"


CLUSTER_KIND_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}(\.[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)?$")


def validate_cluster_kinds(value: Any) -> None:
    """A list of kinds such as ``ClusterRole`` or ``ClusterRole.rbac.authorization.k8s.io``."""
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError('Enter a list (at most 100) of kinds, e.g. ["ClusterRole", "StorageClass"].')
    for kind in value:
        if not isinstance(kind, str) or not CLUSTER_KIND_RE.match(kind):
            raise ValidationError(
                f"{kind!r} is not a Kubernetes kind (e.g. ClusterRole, or "
                "ClusterRole.rbac.authorization.k8s.io to name the API group too)."
            )


# The last health check of a cluster, kept in the cache (never in a row: a read must not write).
HEALTH_CACHE_KEY = "cluster-health:{}"
HEALTH_CACHE_SECONDS = 300


class Cluster(models.Model):
    """A Kubernetes cluster the portal deploys to.

    The kubeconfig is stored only encrypted (``kubeconfig_encrypted``); ``kubeconfig`` decrypts on access.
    Nothing that renders a cluster (``str``, ``repr``, schemas, admin) ever includes it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clusters")
    name = models.CharField(max_length=100)
    kubeconfig_encrypted = models.BinaryField(editable=False)
    server_url = models.CharField(max_length=500, blank=True, help_text="The API server (not secret).")
    ingress_url = models.CharField(max_length=500, blank=True)
    is_sandbox = models.BooleanField(
        default=False, help_text="The simulated sandbox cluster: Helm talks to it, but nothing runs."
    )
    # Set by staff in the admin only; the API shows them read-only.
    pod_security_level = models.CharField(
        max_length=20,
        choices=PodSecurityLevel.choices,
        default=PodSecurityLevel.BASELINE,
        help_text="Every pod (and pod template) a release sends must meet this Pod Security Standards profile.",
    )
    allowed_cluster_kinds = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_cluster_kinds],
        help_text='Cluster-scoped kinds releases may read and write (e.g. ["ClusterRole"]); empty: none. '
        "A release can always write namespaced objects in its own namespace only.",
    )
    # Access URLs and isolation (README "Access URLs", "Network isolation"); set by staff in the admin.
    gateway_kind = models.CharField(
        max_length=20,
        choices=GatewayKind.choices,
        default=GatewayKind.INGRESS,
        blank=True,
        help_text="How access URLs are published: an Ingress (also when empty), or a Gateway API HTTPRoute.",
    )
    gateway_class = models.CharField(
        max_length=253, blank=True, help_text="The IngressClass name, or the Gateway's name for HTTPRoutes."
    )
    gateway_namespace = models.CharField(
        max_length=63,
        blank=True,
        help_text="Namespace of the ingress controller / the Gateway: admitted by the network policy, and the "
        "HTTPRoute's parent namespace.",
    )
    access_base_domain = models.CharField(
        max_length=253,
        blank=True,
        help_text="Access URLs are https://<release>-<namespace>.<this domain><path>; empty: no access URLs.",
    )
    network_isolation = models.BooleanField(
        default=True,
        help_text="Each deployment namespace gets a NetworkPolicy admitting traffic only from itself and the "
        "gateway namespace.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Members of these groups may deploy onto the cluster and see its health; only the owner (or staff) may
    # change or delete it, and nobody but the portal ever reads the kubeconfig.
    shared_with_groups = models.ManyToManyField("auth.Group", blank=True, related_name="shared_clusters")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="cluster_unique_name_per_owner")]

    def __str__(self) -> str:
        return f"{self.name}{' (sandbox)' if self.is_sandbox else ''}"

    def __repr__(self) -> str:
        return f"<Cluster {self.pk} {self.name!r}>"

    @property
    def kubeconfig(self) -> str:
        return crypto.decrypt(bytes(self.kubeconfig_encrypted))

    @kubeconfig.setter
    def kubeconfig(self, text: str) -> None:
        self.kubeconfig_encrypted = crypto.encrypt(text)


class JobType(models.TextChoices):
    MODEL_DEPLOYMENT = "model_deployment"
    VECTOR_DB_DEPLOYMENT = "vector_db_deployment"
    MEMORY_STORE_DEPLOYMENT = "memory_store_deployment"
    HELM_DEPLOY = "helm_deploy"
    HELM_UNINSTALL = "helm_uninstall"
    USECASE_COMPONENT = "usecase_component"
    CUSTOM_JOB = "custom_job"
    FINE_TUNING = "fine_tuning"
    BATCH_INFERENCE = "batch_inference"
    BENCHMARK = "benchmark"
    DATA_PIPELINE = "data_pipeline"


# Seconds a job may run before it is TIMEOUT; a job's own ``timeout_seconds`` overrides these.
JOB_TYPE_TIMEOUTS: dict[str, int] = {
    JobType.MODEL_DEPLOYMENT: 3600,
    JobType.VECTOR_DB_DEPLOYMENT: 1800,
    JobType.MEMORY_STORE_DEPLOYMENT: 1800,
    JobType.HELM_DEPLOY: 3600,
    JobType.HELM_UNINSTALL: 900,
    JobType.USECASE_COMPONENT: 3600,
    JobType.CUSTOM_JOB: 3600,
    JobType.FINE_TUNING: 86400,
    JobType.BATCH_INFERENCE: 21600,
    JobType.BENCHMARK: 7200,
    JobType.DATA_PIPELINE: 7200,
}


class JobStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"


FINISHED_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMEOUT)


class Job(models.Model):
    """One unit of cluster work (a Helm install or uninstall), as BudCluster's job."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True)
    job_type = models.CharField(max_length=40, choices=JobType.choices)
    source = models.CharField(max_length=100, blank=True, help_text="Who asked for it, e.g. budpipeline.")
    source_id = models.CharField(max_length=100, blank=True, null=True, db_index=True)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="jobs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cluster_jobs")
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    timeout_seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True, help_text="Set when queued: queued + timeout.")
    # The running worker renews its lease; a RUNNING job with an expired lease lost its worker and is re-run.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or self.job_type} [{self.status}]"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES


class ChartRegistry(models.Model):
    """An owner's credentials (and optional CA) for one chart host: an OCI registry or an HTTPS chart
    repository, named by ``host[:port]``. The password is stored only encrypted and is never returned; the
    owner's jobs use it when their chart ref names that host (README "Chart sources")."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chart_registries")
    host = models.CharField(max_length=260, help_text="host[:port], as in the chart ref")
    username = models.CharField(max_length=200, blank=True)
    password_encrypted = models.BinaryField(editable=False, default=b"")
    ca_pem = models.TextField(blank=True, help_text="PEM CA certificate(s) to trust for this host (not secret).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["host"]
        constraints = [models.UniqueConstraint(fields=["owner", "host"], name="chart_registry_unique_host_per_owner")]

    def __str__(self) -> str:
        return self.host

    @property
    def password(self) -> str:
        return crypto.decrypt(bytes(self.password_encrypted)) if self.password_encrypted else ""

    @password.setter
    def password(self, value: str) -> None:
        self.password_encrypted = crypto.encrypt(value) if value else b""
