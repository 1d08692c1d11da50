"""API schemas. No output schema has a kubeconfig field: it is write-only (``ClusterIn``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import SecretStr


class ClusterIn(Schema):
    name: str = Field(..., max_length=100)
    # SecretStr: the payload's repr (logs, a traceback's locals on the debug page) shows ********** instead.
    kubeconfig: SecretStr = Field(..., description="The kubeconfig YAML; stored encrypted, never returned.")
    ingress_url: str = Field("", max_length=500)
    shared_with_groups: list[int] = Field(
        default_factory=list, max_length=100, description="Ids of your groups whose members may deploy onto it"
    )


class ClusterShareIn(Schema):
    shared_with_groups: list[int] = Field(
        default_factory=list, max_length=100, description="The complete list of group ids; [] shares with nobody"
    )


class ClusterOut(Schema):
    id: uuid.UUID
    name: str
    server_url: str
    ingress_url: str
    is_sandbox: bool
    pod_security_level: str = Field(..., description="Pod Security Standards profile (set by staff in the admin).")
    allowed_cluster_kinds: list[str] = Field(
        ..., description="Cluster-scoped kinds releases may write (set by staff in the admin)."
    )
    owner_id: int
    shared_with_groups: list[int]
    created_at: datetime

    @staticmethod
    def resolve_shared_with_groups(obj) -> list[int]:
        return sorted(group.pk for group in obj.shared_with_groups.all())


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


class RegistryIn(Schema):
    host: str = Field(..., max_length=260, description="host[:port] of the OCI registry or HTTPS chart repository")
    username: str = Field("", max_length=200)
    password: SecretStr = Field(SecretStr(""), description="Stored encrypted, never returned.")
    ca_pem: str = Field("", max_length=65536, description="PEM CA to trust for this host (like helm --ca-file)")


class RegistryOut(Schema):
    id: uuid.UUID
    host: str
    username: str
    has_password: bool
    has_ca: bool
    created_at: datetime

    @staticmethod
    def resolve_has_password(obj) -> bool:
        return bool(obj.password_encrypted)

    @staticmethod
    def resolve_has_ca(obj) -> bool:
        return bool(obj.ca_pem)
