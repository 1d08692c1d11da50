"""The action contract: what every pipeline step type implements.

An action is a class with a ``meta`` and four methods. Sync actions finish inside ``execute``; event-driven
actions (helm_deploy, deployment_create) return ``awaiting_event=True`` with an ``external_workflow_id`` and
are finished later by ``on_event`` when an event with that ``workflow_id`` arrives on ``budpipelineEvents``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ExecutionMode(str, enum.Enum):
    SYNC = "sync"
    EVENT_DRIVEN = "event_driven"


class ParamType(str, enum.Enum):
    """Param and output types as BudPipeline's action metadata names them (lowercase on the wire)."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ANY = "any"
    JSON = "json"  # any JSON value (object, array, string, number, boolean or null)
    CLUSTER_REF = "cluster_ref"  # the id of one of the owner's clusters (checked by validate_references)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # a ParamType value
    required: bool = False
    default: Any = None
    description: str = ""


@dataclass(frozen=True)
class OutputSpec:
    """A typed output: what ``steps.<id>.outputs.<name>`` holds after the step."""

    name: str
    type: str = ParamType.ANY.value
    description: str = ""


@dataclass(frozen=True)
class ActionMeta:
    type: str
    name: str
    description: str
    category: str = "general"
    params: tuple[ParamSpec, ...] = ()
    # Plain names (type ``any``) or OutputSpec; ``output_specs`` gives them all typed.
    outputs: tuple[str | OutputSpec, ...] = ()
    execution_mode: ExecutionMode = ExecutionMode.SYNC
    timeout_seconds: int = 300
    idempotent: bool = True
    version: str = "1.0.0"
    icon: str = ""  # a short icon name or emoji for pickers
    color: str = ""  # a CSS colour for the step's node, e.g. "#6366f1"
    required_services: tuple[str, ...] = ()  # informational: e.g. ("kubernetes", "helm")
    # Django permissions ("app.codename") the submitting user needs: checked at submit (validation).
    required_permissions: tuple[str, ...] = ()
    # Runs in-process in microseconds with no external I/O (no network, no subprocess, no render pool, no
    # sleep): a worker may claim, run and record up to ``pipelines.batching.BATCH_SIZE`` such steps of one
    # execution at once (issue 16). Never set it for an action that waits, calls out or can take long.
    batchable: bool = False

    @property
    def output_specs(self) -> tuple[OutputSpec, ...]:
        return tuple(o if isinstance(o, OutputSpec) else OutputSpec(o) for o in self.outputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.output_specs)


@dataclass
class ActionContext:
    """What a step sees while it runs. ``params`` are already rendered (Jinja resolved)."""

    execution_id: str
    step_id: str
    params: dict[str, Any]
    attempt: int = 1
    owner_id: int | None = None
    execution_parameters: dict[str, Any] = field(default_factory=dict)
    step_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    external_workflow_id: str | None = None
    timeout_seconds: int | None = None
    deployment_id: str | None = None


@dataclass
class ActionResult:
    success: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    awaiting_event: bool = False
    external_workflow_id: str | None = None
    timeout_seconds: int | None = None


class EventAction(str, enum.Enum):
    COMPLETE = "complete"
    UPDATE_PROGRESS = "update_progress"
    IGNORE = "ignore"


@dataclass
class EventContext:
    """An event routed to the step that waits for it (``workflow_id`` == the step's external_workflow_id)."""

    execution_id: str
    step_id: str
    params: dict[str, Any]
    event_type: str
    event_data: dict[str, Any]
    external_workflow_id: str


@dataclass
class EventResult:
    action: EventAction
    status: str | None = None  # "COMPLETED" or "FAILED" with COMPLETE
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    progress: float | None = None


class Action:
    meta: ClassVar[ActionMeta]

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        """Errors for params that can be checked before the run (Jinja strings are not rendered yet)."""
        errors = []
        for spec in self.meta.params:
            if spec.required and spec.name not in params:
                errors.append(f"{spec.name}: required")
        return errors

    def validate_references(self, params: dict[str, Any], owner: Any) -> list[str]:
        """Errors for ids in ``params`` that ``owner`` may not name (another user's cluster or deployment),
        checked at submit; Jinja strings are checked when the step runs. Default: the action names none."""
        return []

    def declared_outputs(self, params: dict[str, Any]) -> set[str] | None:
        """Output names other steps may reference as ``steps.X.outputs.<name>``; None allows any name."""
        return set(self.meta.output_names)

    def execute(self, ctx: ActionContext) -> ActionResult:
        raise NotImplementedError

    def on_event(self, ctx: EventContext) -> EventResult:
        return EventResult(action=EventAction.IGNORE)

    def cancel(self, ctx: ActionContext) -> None:
        """Stop external work started by ``execute`` (e.g. cancel a cluster job). Default: nothing to stop."""
