"""The deployment page's event log in plain words, newest first, with a separator where an attempt begins.

Events keep their internal names in the API (docs/architecture.md); the page says what happened to a person:
"llm: waiting for the Helm job", not "step awaiting event (AWAITING_EVENT)". A separator line marks where a
new attempt begins (the first deploy, a retry after a failed run, the uninstall of a stop or delete); newest
first, it sits under the events of the attempt it opens, like a heading on a timeline read upwards.
"""

from __future__ import annotations

from typing import Any

from pipelines.events import EventType
from pipelines.models import Event, ExecutionStatus
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment

SKIPPED_IN_LOG = (EventType.WORKFLOW_PROGRESS,)

STEP_WORDS = {
    EventType.STEP_STARTED: "started",
    EventType.STEP_AWAITING_EVENT: "waiting for the Helm job",
    EventType.STEP_RETRYING: "did not work; trying again",
    EventType.STEP_COMPLETED: "done",
    EventType.STEP_FAILED: "failed",
}
EXECUTION_WORDS: dict[str, str] = {
    ExecutionStatus.COMPLETED: "Deployment finished",
    ExecutionStatus.FAILED: "Deployment failed",
    ExecutionStatus.CANCELLED: "Stopped",
    ExecutionStatus.TIMEOUT: "Deployment ran out of time",
}
UNINSTALL_WORDS: dict[str, str] = {
    ExecutionStatus.COMPLETED: "Uninstall finished",
    ExecutionStatus.FAILED: "Uninstall failed",
    ExecutionStatus.CANCELLED: "Uninstall cancelled",
    ExecutionStatus.TIMEOUT: "Uninstall ran out of time",
}


def _inner(event: Event) -> dict[str, Any]:
    payload = event.payload or {}
    inner = payload.get("payload") if isinstance(payload.get("payload"), dict) else payload
    return inner if isinstance(inner, dict) else {}


def _step_name(name: str) -> str:
    return name.replace("_", " ")


def _job_text(event: Event, inner: dict[str, Any]) -> str:
    content: dict[str, Any] = inner["content"] if isinstance(inner.get("content"), dict) else {}
    result: dict[str, Any] = content["result"] if isinstance(content.get("result"), dict) else {}
    release = result.get("release_name") or ""
    uninstall = "uninstall" in str(inner.get("job_type", ""))
    ok = event.type == EventType.JOB_COMPLETED
    verb = (
        ("uninstalled" if ok else "could not uninstall") if uninstall else ("installed" if ok else "could not install")
    )
    return f"Helm {verb} {release}".rstrip() if release else f"Helm job {verb.replace('could not', 'failed to')}"


def _text(event: Event, inner: dict[str, Any], uninstall: bool) -> tuple[str, bool]:
    """What happened, and whether it is bad news (red). A user's Stop is neutral, not an error."""
    status = str(inner.get("status") or "")
    if event.type in (EventType.JOB_COMPLETED, EventType.JOB_FAILED):
        return _job_text(event, inner), event.type == EventType.JOB_FAILED
    if event.type == EventType.EXECUTION_COMPLETED:
        words = UNINSTALL_WORDS if uninstall else EXECUTION_WORDS
        return words.get(status, f"Run ended ({status.lower()})"), status in (
            ExecutionStatus.FAILED,
            ExecutionStatus.TIMEOUT,
        )
    subject = _step_name(event.step_id or str((event.payload or {}).get("step_id") or ""))
    if event.type in STEP_WORDS:
        return f"{subject}: {STEP_WORDS[EventType(event.type)]}", event.type == EventType.STEP_FAILED
    return " ".join(p for p in (subject, event.type.replace("_", " ")) if p), "fail" in event.type


def log_line(event: Event, *, deployment: UseCaseDeployment, separator: str = "") -> dict[str, Any]:
    inner = _inner(event)
    uninstall = bool(event.execution_id) and str(event.execution_id) == deployment.cleanup_execution_id
    text, bad = _text(event, inner, uninstall)
    # A step cancelled because the user stopped is not an error (its error text says "cancelled").
    error = "" if inner.get("status") == ExecutionStatus.CANCELLED else str(inner.get("error") or "")
    return {
        "id": event.pk,
        "created_at": event.created_at,
        "text": text,
        "error": error,
        "bad": bad,
        "separator": separator,
    }


class Sections:
    """Decides, event by event (oldest first), where a new attempt begins."""

    def __init__(self, deployment: UseCaseDeployment, before: int | None = None) -> None:
        """``before``: the id of the first event still to come (a live stream goes on from the events already
        shown); the attempts so far are read from the run events before it. Job events have no run."""
        self.deployment = deployment
        self.execution_id: str | None = None
        self.ended = False
        self.attempt = 0
        if before is None:
            return
        earlier = Event.objects.filter(deployment_id=deployment.pk, id__lt=before).exclude(execution=None)
        last = earlier.order_by("-id").only("execution_id", "type").first()
        if last is not None:
            self.execution_id = str(last.execution_id)
            self.ended = last.type == EventType.EXECUTION_COMPLETED
            # Earlier ends of the deploy run: each one before a retry is an attempt.
            runs = earlier.filter(type=EventType.EXECUTION_COMPLETED, execution__pk=deployment.pipeline_execution_id)
            self.attempt = 1 + runs.exclude(pk=last.pk).count()

    def separator(self, event: Event) -> str:
        execution_id = str(event.execution_id) if event.execution_id else None
        label = ""
        if execution_id and execution_id == self.deployment.cleanup_execution_id and execution_id != self.execution_id:
            label = (
                "Deleting: uninstalling every release"
                if self.deployment.status == DeploymentStatus.DELETING
                else "Stop: uninstalling every release"
            )
        elif execution_id and execution_id != self.execution_id:
            self.attempt += 1
            label = "Deploy" if self.attempt == 1 else f"Deploy again (attempt {self.attempt})"
        elif execution_id and self.ended:
            self.attempt += 1
            label = f"Retry (attempt {self.attempt})"
        if execution_id:
            self.execution_id = execution_id
        self.ended = event.type == EventType.EXECUTION_COMPLETED
        return label


def log_lines(events: list[Event], *, deployment: UseCaseDeployment, continued: bool = False) -> list[dict[str, Any]]:
    """Lines for ``events`` (oldest first, as read), each with the separator of the attempt it opens;
    ``continued``: the events go on from earlier ones already shown (a live stream)."""
    sections = Sections(deployment, events[0].pk if continued and events else None)
    lines, pending = [], ""
    for event in events:
        separator = sections.separator(event) or pending
        if event.type in SKIPPED_IN_LOG:
            pending = separator  # the attempt opens with the next line shown
            continue
        lines.append(log_line(event, deployment=deployment, separator=separator))
        pending = ""
    return lines
