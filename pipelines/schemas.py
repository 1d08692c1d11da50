from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema


class ExecutionIn(Schema):
    dag: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None


class ExecutionCreatedOut(Schema):
    execution_id: uuid.UUID
    status: str


class StepOut(Schema):
    step_id: str
    action: str
    status: str
    attempt: int
    max_attempts: int
    depends_on: list[str]
    params: dict[str, Any]
    outputs: dict[str, Any]
    error: str
    external_workflow_id: str
    progress: float
    started_at: datetime | None
    completed_at: datetime | None


class ExecutionOut(Schema):
    id: uuid.UUID
    name: str
    status: str
    parameters: dict[str, Any]
    outputs: dict[str, Any]
    callback_topics: list[str]
    deployment_id: uuid.UUID | None
    error: str
    progress: float
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None


class ExecutionDetailOut(ExecutionOut):
    dag: dict[str, Any]
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(obj) -> list:
        return list(obj.steps.all())


class ProgressOut(Schema):
    execution_id: str
    status: str
    percent: float
    eta_seconds: float | None
    current_steps: list[str]
    total_steps: int
    completed_steps: int
    steps: list[dict[str, Any]] | None = None


class ParamOut(Schema):
    name: str
    type: str
    required: bool
    default: Any = None
    description: str


class OutputDefinitionOut(Schema):
    name: str
    type: str
    description: str


class ActionOut(Schema):
    type: str
    name: str
    description: str
    category: str
    version: str
    icon: str
    color: str
    execution_mode: str
    timeout_seconds: int
    idempotent: bool
    required_services: list[str]
    required_permissions: list[str]
    params: list[ParamOut]
    outputs: list[str]  # the names, as before; typed in output_definitions
    output_definitions: list[OutputDefinitionOut]


class DagErrorOut(Schema):
    loc: list[Any]
    msg: str


class DagValidationOut(Schema):
    valid: bool
    errors: list[DagErrorOut]


class EventOut(Schema):
    id: int
    topic: str
    type: str
    execution_id: uuid.UUID | None
    step_id: str
    deployment_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: datetime


class NotificationOut(Schema):
    id: int
    level: str
    title: str
    message: str
    link: str
    read_at: datetime | None
    created_at: datetime


class SavedPipelineIn(Schema):
    name: Any
    dag: Any
    description: Any = ""
    parameters: Any = None
    schedule_minutes: Any = None


class SavedPipelineOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    dag: dict[str, Any]
    parameters: dict[str, Any]
    schedule_minutes: int | None
    paused: bool
    owner: str
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None

    @staticmethod
    def resolve_owner(obj) -> str:
        return obj.owner.get_username()


class SavedPipelineCreatedOut(SavedPipelineOut):
    webhook_secret: str  # shown only here and by rotate-secret; only its hash is stored


class WebhookSecretOut(Schema):
    webhook_secret: str


class RunIn(Schema):
    parameters: Any = None


class RunOut(Schema):
    execution_id: uuid.UUID
    status: str
    trigger: str
