"""API schemas. No output schema has a kubeconfig field: it is write-only (``ClusterIn``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema


class ClusterIn(Schema):
    name: str = Field(..., max_length=100)
    kubeconfig: str = Field(..., description="The kubeconfig YAML; stored encrypted, never returned.")
    ingress_url: str = Field("", max_length=500)


class ClusterOut(Schema):
    id: uuid.UUID
    name: str
    server_url: str
    ingress_url: str
    is_sandbox: bool
    pod_security_level: str = Field(..., description="Pod Security Standards profile (set by staff in the admin).")
    allowed_cluster_kinds: list[str] = Field(..., description="Cluster-scoped kinds releases may write "
                                                              "(set by staff in the admin).")
    owner_id: int
    created_at: datetime


class ClusterHealthOut(Schema):
    healthy: bool
    server_version: str | None
    latency_ms: float
    error: str | None


class JobIn(Schema):
    name: str = Field("", max_length=200)
    job_type: str
    cluster_id: uuid.UUID
    config: dict[str, Any] = Field(default_factory=dict)
    source: str = Field("", max_length=100)
    source_id: str | None = Field(None, max_length=100)
    timeout_seconds: int | None = None


class JobOut(Schema):
    id: uuid.UUID
    name: str
    job_type: str
    source: str
    source_id: str | None
    cluster_id: uuid.UUID
    owner_id: int
    config: dict[str, Any]
    status: str
    result: dict[str, Any]
    error: str
    timeout_seconds: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
