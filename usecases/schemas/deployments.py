"""Request and response shapes of the deployments API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field

from usecases.models.deployments import UseCaseDeployment


class DeploymentIn(BaseModel):
    """``POST /api/deployments``. Parsed by the endpoint so errors carry plain paths (``["components",
    "llm"]``), as the templates API's do."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Lowercase DNS label, at most 40 characters; unique among your deployments")
    template: str = Field(description="Template name")
    cluster_id: uuid.UUID = Field(description="One of your clusters")
    components: dict[str, str | None] = Field(
        default_factory=dict,
        description="Slot → catalog component (default: the slot's default_component); null leaves an optional "
        "slot out",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="Template parameters; defaults merged in")
    notify_webhook_url: str = Field("", description="Optional http(s) URL told when the deployment completes")


class ComponentOut(Schema):
    name: str = Field(alias="component_name")
    component_type: str
    selected_component: str
    status: str
    job_id: str
    release_name: str
    endpoint_url: str
    error: str
    started_at: datetime | None
    completed_at: datetime | None


class DeploymentOut(Schema):
    id: uuid.UUID
    name: str
    template: str = Field(alias="template_name")
    template_version: str
    cluster_id: uuid.UUID | None
    owner: str
    status: str
    parameters: dict[str, Any]
    namespace: str
    pipeline_execution_id: str | None
    cleanup_execution_id: str | None
    error: str
    components: list[ComponentOut]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @staticmethod
    def resolve_owner(obj: UseCaseDeployment) -> str:
        return obj.owner.get_username()

    @staticmethod
    def resolve_components(obj: UseCaseDeployment) -> list:
        return list(obj.components.all())

    @staticmethod
    def resolve_pipeline_execution_id(obj: UseCaseDeployment) -> str | None:
        return obj.pipeline_execution_id or None

    @staticmethod
    def resolve_cleanup_execution_id(obj: UseCaseDeployment) -> str | None:
        return obj.cleanup_execution_id or None


class ComponentProgressOut(Schema):
    name: str
    status: str
    endpoint_url: str
    error: str
    release_name: str


class ProgressOut(Schema):
    deployment_id: uuid.UUID
    status: str
    percent: float
    eta_seconds: float | None
    current_steps: list[str]
    execution_id: str | None
    phase: str = Field("install", description="install, or uninstall while stopping or deleting")
    components: list[ComponentProgressOut]


class ComponentPlanOut(Schema):
    name: str
    type: str
    selected_component: str
    action: str
    depends_on: list[str]
    release_name: str
    namespace: str
    chart_ref: str | None
    chart_version: str | None
    values: dict[str, Any]
    pending_refs: list[str]


class PlanOut(Schema):
    deployment_id: uuid.UUID
    namespace: str
    dag: dict[str, Any]
    waves: list[list[str]]
    components: list[ComponentPlanOut]


def deployment_in_openapi() -> dict[str, Any]:
    """The request body for the OpenAPI docs (the endpoint parses the body itself)."""
    schema = DeploymentIn.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
