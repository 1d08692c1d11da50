import pytest

from pipelines.models import PipelineExecution, StepExecution
from pipelines.services import execution_submit


def step(step_id: str, action: str = "log", depends_on=(), **extra) -> dict:
    params = extra.pop("params", {"message": step_id} if action == "log" else {})
    return {"id": step_id, "action": action, "depends_on": list(depends_on), "params": params, **extra}


def dag(*steps: dict, **top) -> dict:
    return {"name": top.pop("name", "test-dag"), "version": "1.0.0", "steps": list(steps), **top}


def statuses(execution: PipelineExecution) -> dict[str, str]:
    return dict(StepExecution.objects.filter(execution=execution).values_list("step_id", "status"))


@pytest.fixture
def run(owner, django_capture_on_commit_callbacks):
    """Submit a DAG and run every queued task inline (django-q2 ``sync: True``); returns the fresh execution."""

    def _run(the_dag: dict, user=None, **kwargs) -> PipelineExecution:
        with django_capture_on_commit_callbacks(execute=True):
            execution = execution_submit(dag=the_dag, owner=user or owner, **kwargs)
        execution.refresh_from_db()
        return execution

    return _run


# --- an event-driven test action, shaped like helm_deploy --------------------------------------------------
from pipelines.actions.base import (  # noqa: E402
    Action,
    ActionContext,
    ActionMeta,
    ActionResult,
    EventAction,
    EventContext,
    EventResult,
    ExecutionMode,
    ParamSpec,
)
from pipelines.actions.registry import register  # noqa: E402

CANCELLED_JOBS: list[str] = []


@register
class WaitForJobAction(Action):
    meta = ActionMeta(
        type="test_wait_for_job",
        name="Wait for a job (tests)",
        description="Returns awaiting_event for params.job_id; completed by job_completed/job_failed events.",
        params=(ParamSpec("job_id", "string", required=True),),
        outputs=("job_id", "endpoint_url", "status"),
        execution_mode=ExecutionMode.EVENT_DRIVEN,
        timeout_seconds=600,
    )

    def execute(self, ctx: ActionContext) -> ActionResult:
        return ActionResult(
            success=True,
            awaiting_event=True,
            external_workflow_id=str(ctx.params["job_id"]),
            timeout_seconds=ctx.timeout_seconds,
            outputs={"job_id": ctx.params["job_id"], "status": "deploying"},
        )

    def on_event(self, ctx: EventContext) -> EventResult:
        payload = ctx.event_data.get("payload", {})
        content = payload.get("content", {})
        if ctx.event_type == "job_progress":
            return EventResult(EventAction.UPDATE_PROGRESS, progress=float(payload.get("percent", 0)))
        if ctx.event_type == "job_completed" and content.get("status") == "COMPLETED":
            return EventResult(
                EventAction.COMPLETE,
                status="COMPLETED",
                outputs={"endpoint_url": content.get("result", {}).get("endpoint_url", ""), "status": "running"},
            )
        if ctx.event_type == "job_failed":
            return EventResult(EventAction.COMPLETE, status="FAILED", error=payload.get("error", "job failed"))
        return EventResult(EventAction.IGNORE)

    def cancel(self, ctx: ActionContext) -> None:
        CANCELLED_JOBS.append(ctx.external_workflow_id)


def job_event(job_id: str, event_type: str = "job_completed", endpoint_url: str = "http://svc.ns:80", **extra) -> dict:
    status = "COMPLETED" if event_type == "job_completed" else "FAILED"
    return {
        "type": event_type,
        "workflow_id": job_id,
        "payload": {
            "job_id": job_id,
            "job_type": "helm_deploy",
            "source": "budpipeline",
            "source_id": "x",
            "status": status,
            "content": {"result": {"endpoint_url": endpoint_url}, "status": status},
            **extra,
        },
    }


@pytest.fixture
def publish_job(django_capture_on_commit_callbacks):
    """Publish a job event on budpipelineEvents as the cluster-jobs worker would, running what it triggers."""
    from pipelines.events import JOB_EVENTS_TOPIC, publish

    def _publish(job_id: str, event_type: str = "job_completed", **extra):
        body = job_event(job_id, event_type, **extra)
        with django_capture_on_commit_callbacks(execute=True):
            return publish(JOB_EVENTS_TOPIC, body["type"], body)

    return _publish
