"""HTML for the deployment page, shared by the page itself, its htmx fragments and its SSE stream.

One fragment serves three uses (STYLE.md): ``usecases/partials/deployment_state.html`` is included by the
page, returned alone for an htmx request, and pushed over ``/deployments/<id>/events`` as the SSE event
``state``; each log line (``usecases/partials/event_line.html``) goes out as the SSE event ``log``; ``done``
tells the page (``sse-close="done"``) that the deployment reached a resting state and the stream may close.

Hook for the SSE consumer of ``/deployments/<id>/events``: mix ``DeploymentStreamMixin`` into the
``EventStreamConsumer`` subclass (``class DeploymentEventsConsumer(DeploymentStreamMixin, EventStreamConsumer)``).
``render_event`` runs in the event loop, where the ORM may not be used, so the HTML is rendered in
``read_events``, which runs in a thread. Status changes are applied by the listener *after* the event that
caused them is committed, so the mixin also pushes a fresh ``state`` when the deployment changed without a new
event (otherwise the page could stop one step behind, e.g. still "deploying" after the last event).
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from clusterjobs.selectors import job_list
from pipelines.consumers import sse_message
from pipelines.models import Event, ExecutionStatus, PipelineExecution, StepExecution, StepStatus
from pipelines.selectors import event_list
from pipelines.services import execution_progress
from usecases import event_log
from usecases.event_log import log_lines
from usecases.models.deployments import ComponentDeployment, ComponentStatus, DeploymentStatus, UseCaseDeployment
from usecases.models.templates import UseCaseTemplate
from usecases.services import deployments as deployment_services
from usecases.template_graph import template_graph

S = DeploymentStatus
# States in which nothing moves until the user acts: the stream may stop.
RESTING = (S.PENDING, S.RUNNING, S.FAILED, S.STOPPED)
ACTIVE = (S.DEPLOYING, S.STOPPING, S.DELETING)
LOG_LIMIT = 1000
SKIPPED_IN_LOG = event_log.SKIPPED_IN_LOG
# A component queued behind an earlier wave: not deploying yet (a display status, never stored).
WAITING = "waiting"


def _step_rows(deployment: UseCaseDeployment) -> list[dict[str, Any]]:
    """One row per pipeline step (components and the portal's own steps), or per component before start."""
    components = {c.component_name: c for c in deployment.components.all()}
    jobs = {
        str(j.pk): j
        for j in job_list(user=deployment.owner).filter(pk__in=[c.job_id for c in components.values() if c.job_id])
    }
    execution = PipelineExecution.objects.filter(pk=deployment.pipeline_execution_id or None).first()
    steps = execution_progress(execution=execution)["steps"] if execution is not None else []
    rows = []
    seen = set()
    for step in steps:
        component = components.get(step["step_id"])
        seen.add(step["step_id"])
        rows.append(_row(step["step_id"], component, step, jobs))
    rows += [_row(name, c, None, jobs) for name, c in components.items() if name not in seen]
    return rows


def _row(name: str, component, step: dict[str, Any] | None, jobs: dict[str, Any]) -> dict[str, Any]:
    job = jobs.get(component.job_id) if component is not None and component.job_id else None
    started = (step or {}).get("started_at") or getattr(component, "started_at", None)
    completed = (step or {}).get("completed_at") or getattr(component, "completed_at", None)
    status = _row_status(component, (step or {}).get("status"))
    error = (component.error if component is not None else "") or (step or {}).get("error") or ""
    return {
        "name": name,
        "component": component,
        "status": status,
        "step_status": (step or {}).get("status"),
        "action": (step or {}).get("action", ""),
        "error": error,
        # The job's output belongs to the attempt that failed: a retry in progress does not show it again.
        "helm_output": job.error
        if job is not None and job.error and job.error != error and status == ComponentStatus.FAILED
        else "",
        "seconds": _seconds(started, completed),
        "started_at": started,
        "completed_at": completed,
    }


def _seconds(started, completed) -> float | None:
    return (completed - started).total_seconds() if started and completed else None


def _row_status(component, step_status: str | None) -> str:
    """The component's status, except that a component queued behind an earlier wave (its step still
    PENDING) shows as "waiting" rather than deploying; steps that are not components show their own status."""
    if component is None:
        return (step_status or "pending").lower()
    if component.status == ComponentStatus.DEPLOYING and step_status in (None, StepStatus.PENDING):
        return WAITING
    return component.status


UNINSTALL_STATUS = {
    StepStatus.PENDING: "waiting",
    StepStatus.RUNNING: "uninstalling",
    StepStatus.AWAITING_EVENT: "uninstalling",
    StepStatus.COMPLETED: "uninstalled",
}


def _uninstall_rows(deployment: UseCaseDeployment) -> list[dict[str, Any]]:
    """During (and after) a stop or delete: one row per release the uninstall run removes. The run is one
    ``helm_uninstall`` step over every release, so each row shows that step's status and clock."""
    execution = PipelineExecution.objects.filter(pk=deployment.cleanup_execution_id or None).first()
    if execution is None:
        return []
    steps = (execution.dag or {}).get("steps") or [{}]
    releases = (steps[0].get("params") or {}).get("releases") or []
    step = StepExecution.objects.filter(execution=execution).order_by("position").first()
    status = UNINSTALL_STATUS.get(step.status, step.status.lower()) if step is not None else "waiting"
    started, completed = (step.started_at, step.completed_at) if step is not None else (None, None)
    return [
        {
            "name": str(release),
            "status": status,
            "error": step.error if step is not None and status == "failed" else "",
            "started_at": started,
            "completed_at": completed,
            "seconds": _seconds(started, completed),
        }
        for release in releases
    ]


def _graph(deployment: UseCaseDeployment, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The template's wave graph (from the deployment's snapshot) with each component's live status and clock."""
    snapshot = deployment.template_snapshot or {}
    if not snapshot.get("components"):
        return None
    template = UseCaseTemplate(
        components=snapshot["components"], deployment_order=snapshot.get("deployment_order") or []
    )
    graph = template_graph(template)
    by_name = {r["name"]: r for r in rows}
    graph["live"] = {n.name: by_name.get(n.name, {}) for n in graph["nodes"]}
    return graph


def state_context(deployment: UseCaseDeployment) -> dict[str, Any]:
    """Everything ``deployment_state.html`` shows, read fresh from the database."""
    rows = _step_rows(deployment)
    graph = _graph(deployment, rows)
    return {
        "deployment": deployment,
        "progress": deployment_services.deployment_progress(deployment=deployment),
        "rows": rows,
        "uninstall_rows": _uninstall_rows(deployment),
        "graph": graph,
        "statuses": {name: (row.get("status") or "pending") for name, row in graph["live"].items()} if graph else {},
        "is_active": deployment.status in ACTIVE,
    }


def log_history(*, user, deployment: UseCaseDeployment) -> tuple[list[dict[str, Any]], int]:
    """The log lines so far, newest first, and the id of the last event read: the stream goes on from there."""
    events = list(event_list(user=user, deployment_id=deployment.pk, limit=LOG_LIMIT))
    lines = log_lines(events, deployment=deployment)
    return lines[::-1], events[-1].pk if events else 0


def render_state(deployment: UseCaseDeployment) -> str:
    return render_to_string("usecases/partials/deployment_state.html", state_context(deployment))


def prerender(deployment: UseCaseDeployment, events: list[Event]) -> list[Event]:
    """Attach the SSE bytes of each event (``event.sse``): a ``log`` line each, and after the last one of the
    batch the fresh ``state`` (once per batch, not per event) and, when the deployment rests, ``done``."""
    if not events:
        return events
    saved = [e for e in events if e.pk]
    lines = {line["id"]: line for line in log_lines(saved, deployment=deployment, continued=True)}
    for event in events:
        line = lines.get(event.pk)
        html = render_to_string("usecases/partials/event_line.html", {"line": line}) if line else ""
        event.sse = sse_message(event.pk, "log", html) if html else b""
    _attach_state(deployment, events[-1])
    return events


def _attach_state(deployment: UseCaseDeployment, last: Event) -> None:
    event_id = last.pk or None
    try:
        deployment.refresh_from_db()
    except UseCaseDeployment.DoesNotExist:
        gone = render_to_string("usecases/partials/deployment_gone.html", {"deployment": deployment})
        last.sse += sse_message(event_id, "state", gone) + sse_message(event_id, "done", "")
        return
    last.sse += sse_message(event_id, "state", render_state(deployment))
    if deployment.status in RESTING and _execution_finished(deployment):
        last.sse += sse_message(event_id, "done", "")


def _execution_finished(deployment: UseCaseDeployment) -> bool:
    ids = [i for i in (deployment.pipeline_execution_id, deployment.cleanup_execution_id) if i]
    return not PipelineExecution.objects.filter(
        pk__in=ids, status__in=(ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
    ).exists()


def rendered(event: Event) -> bytes:
    """The bytes ``prerender`` attached (an event it did not see is sent as its log line only)."""
    return getattr(event, "sse", b"")


def state_signature(deployment_id) -> tuple | None:
    """What the state fragment depends on, cheaply: None when the deployment is gone."""
    row = UseCaseDeployment.objects.filter(pk=deployment_id).values_list("status", "updated_at").first()
    if row is None:
        return None
    components = ComponentDeployment.objects.filter(deployment_id=deployment_id).order_by("position")
    return (*row, tuple(components.values_list("status", "endpoint_url", "error")))


class DeploymentStreamMixin:
    """``read_events`` / ``render_event`` for a deployment's SSE stream (see the module docstring)."""

    def read_events(self, after: int) -> list[Event]:
        # The signature is read before the state is rendered: a change in between is then seen on the next
        # poll and rendered again, never recorded as already sent.
        signature = state_signature(self.object.pk)
        events = prerender(self.object, super().read_events(after))
        changed = signature != getattr(self, "_state_signature", ())
        self._state_signature = signature
        if events or not changed:
            return events
        # The deployment moved without a new event (or the stream just (re)connected): send the state alone,
        # on an unsaved carrier event that repeats the last id sent.
        carrier = Event(id=after or None, type="state")
        carrier.sse = b""
        _attach_state(self.object, carrier)
        return [carrier] if after else []

    def render_event(self, event: Event) -> bytes:
        return rendered(event)
