"""Request and response shapes of the deployments API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field

from clusterjobs.crypto import mask_tree
from usecases.models.deployments import DeploymentRevision, RevisionStatus, UseCaseDeployment, access_urls_of
from usecases.template_schema import HelmOptions


class DeploymentIn(BaseModel):
    """``POST /api/deployments``. Parsed by the endpoint so errors carry plain paths (``["components",
    "llm"]``), as the templates API's do."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Lowercase DNS label, at most 40 characters; unique among your deployments")
    template: str = Field(
        description="Template name: your own, else the system one (alias: `template_name`, as BudUseCases)"
    )
    cluster_id: uuid.UUID = Field(description="One of your clusters")
    components: dict[str, str | None] = Field(
        default_factory=dict,
        description="Slot → catalog component (default: the slot's default_component); null leaves an optional "
        "slot out",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="Template parameters; defaults merged in")
    notify_webhook_url: str = Field("", description="Optional http(s) URL told when the deployment completes")
    helm: dict[str, HelmOptions] = Field(
        default_factory=dict, max_length=100, description="Per component: Helm options over the template's"
    )


class ComponentOut(Schema):
    name: str = Field(alias="component_name")
    component_type: str
    selected_component: str
    status: str
    job_id: str
    release_name: str
    endpoint_url: str
    access_url: str = Field(description="Public URL (Ingress/HTTPRoute) while running; empty otherwise")
    error: str
    started_at: datetime | None
    completed_at: datetime | None


class AccessUrlOut(Schema):
    component: str
    url: str
    kind: str


def _components(deployment: UseCaseDeployment) -> list:
    """The rows the detail read attached (``component_rows``), else the prefetched relation."""
    rows = getattr(deployment, "component_rows", None)
    return rows if rows is not None else list(deployment.components.all())


class DeploymentOut(Schema):
    id: uuid.UUID
    name: str
    template: str = Field(alias="template_name")
    template_version: str
    cluster_id: uuid.UUID | None
    owner: str
    status: str
    parameters: dict[str, Any]
    value_overrides: dict[str, Any]
    live_revision: int | None
    last_apply_failed: bool
    namespace: str
    pipeline_execution_id: str | None
    cleanup_execution_id: str | None
    error: str
    components: list[ComponentOut]
    access_urls: list[AccessUrlOut]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @staticmethod
    def resolve_owner(obj: UseCaseDeployment) -> str:
        # The detail read brings the name along (selectors.deployments.deployment_detail_get); lists join it.
        return getattr(obj, "owner_name", None) or obj.owner.get_username()

    @staticmethod
    def resolve_value_overrides(obj: UseCaseDeployment) -> dict[str, Any]:
        return mask_tree(obj.value_overrides or {})

    @staticmethod
    def resolve_live_revision(obj: UseCaseDeployment) -> int | None:
        return obj.live_revision or None

    @staticmethod
    def resolve_last_apply_failed(obj: UseCaseDeployment) -> bool:
        # The list selector annotates it (one query for the whole list); other callers ask.
        if hasattr(obj, "latest_revision_status"):
            return obj.latest_revision_status == RevisionStatus.FAILED
        latest = obj.revisions.exclude(status=RevisionStatus.DRAFT).order_by("-number").first()
        return latest is not None and latest.status == RevisionStatus.FAILED

    @staticmethod
    def resolve_components(obj: UseCaseDeployment) -> list:
        return _components(obj)

    @staticmethod
    def resolve_access_urls(obj: UseCaseDeployment) -> list[dict[str, str]]:
        return access_urls_of(_components(obj))

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


class DeploymentUpdateIn(BaseModel):
    """``PATCH /api/deployments/{id}``: only what is given changes."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] | None = Field(None, description="Parameters to change (merged over the current)")
    components: dict[str, str | None] | None = Field(None, description="Slot → another compatible catalog component")
    values: dict[str, Any] | None = Field(
        None, description="Component → Helm value overrides (replaces that component's overrides; null removes them)"
    )
    secret_values: dict[str, dict[str, Any]] | None = Field(
        None,
        description="Component → {dotted.value.path: secret}: stored encrypted, merged into the overrides, never "
        "shown again (a new value rotates it)",
    )
    upgrade_template: bool = Field(False, description="Take the template's current version")


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(None, ge=1, description="Revision to apply (default: the draft)")
    force: bool = Field(False, description="Upgrade unchanged components too")


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1, description="The revision whose inputs are applied again")


class RevisionOut(Schema):
    number: int
    kind: str
    status: str
    template_name: str
    template_version: str
    parameters: dict[str, Any]
    selections: dict[str, Any]
    value_overrides: dict[str, Any]
    source_revision: int | None
    execution_id: str | None
    components: dict[str, Any]
    changes: list[str]
    error: str
    created_by: str | None
    created_at: datetime
    applied_at: datetime | None
    completed_at: datetime | None

    @staticmethod
    def resolve_value_overrides(obj: DeploymentRevision) -> dict[str, Any]:
        return mask_tree(obj.value_overrides or {})

    @staticmethod
    def resolve_components(obj: DeploymentRevision) -> dict[str, Any]:
        return mask_tree(obj.components or {})

    @staticmethod
    def resolve_created_by(obj: DeploymentRevision) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None

    @staticmethod
    def resolve_execution_id(obj: DeploymentRevision) -> str | None:
        return obj.execution_id or None


class RevisionDetailOut(RevisionOut):
    dag: dict[str, Any]

    @staticmethod
    def resolve_dag(obj: DeploymentRevision) -> dict[str, Any]:
        return mask_tree(obj.dag or {})


class ManifestObjectOut(Schema):
    object: str
    change: str
    diff: str


class ManifestDiffOut(Schema):
    objects: list[ManifestObjectOut]
    error: str


class ComponentChangeOut(ComponentPlanOut):
    action: str
    values_diff: str
    manifest: ManifestDiffOut


class ChangePlanOut(Schema):
    deployment_id: uuid.UUID
    namespace: str
    revision: int | None
    live_revision: int | None
    template_name: str
    template_version: str
    dag: dict[str, Any]
    waves: list[list[str]]
    components: list[ComponentChangeOut]
