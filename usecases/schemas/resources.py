"""Schemas of a deployment's resource tree and health (``GET /api/deployments/{id}/resources``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema


class ResourceOut(Schema):
    kind: str
    name: str
    health: str
    message: str
    sync: str
    drift: list[dict[str, Any]]
    children: list[ResourceOut]
    events: list[str] = []


class ComponentResourcesOut(Schema):
    name: str
    release: str
    health: str
    sync: str
    message: str
    objects: list[ResourceOut]


class ResourcesOut(Schema):
    deployment_id: uuid.UUID
    health: str
    sync: str
    reason: str
    checked_at: datetime | None
    next_check_at: datetime | None
    components: list[ComponentResourcesOut]


class ResyncOut(Schema):
    job_id: uuid.UUID
    component: str
