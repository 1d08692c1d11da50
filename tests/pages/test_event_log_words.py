"""The deployment page's event log: plain words, newest first, a separator where each attempt begins, a
user's Stop neutral."""

from __future__ import annotations

import pytest

from pipelines.models import Event, PipelineExecution
from usecases import sse_render
from usecases.models.deployments import UseCaseDeployment
from usecases.services.deployments import deployment_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(owner, catalog, sandbox):
    return deployment_create(owner=owner, name="rag-log", template="agent-rag", cluster_id=sandbox.pk)


def _event(deployment, execution, type_: str, step: str = "", **payload) -> Event:
    return Event.objects.create(
        topic="budusecasesEvents",
        type=type_,
        execution=execution,
        step_id=step,
        deployment_id=deployment.pk,
        payload={"type": type_, "step_id": step, **payload},
    )


def test_it_tells_attempts_apart_in_plain_words_newest_first(deployment, owner, owner_browser):
    run = PipelineExecution.objects.create(owner=owner, dag={}, deployment_id=deployment.pk)
    cleanup = PipelineExecution.objects.create(owner=owner, dag={}, deployment_id=deployment.pk)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(
        pipeline_execution_id=str(run.pk), cleanup_execution_id=str(cleanup.pk), status="stopping"
    )
    deployment.refresh_from_db()
    _event(deployment, run, "step_awaiting_event", "llm", status="AWAITING_EVENT")
    _event(deployment, run, "step_failed", "llm", status="FAILED", error="chart not found")
    _event(deployment, run, "execution_completed", status="FAILED")
    _event(deployment, run, "step_started", "llm", status="RUNNING")  # the retry
    _event(deployment, run, "execution_completed", status="CANCELLED", error="execution cancelled")
    _event(deployment, cleanup, "step_started", "uninstall_llm", status="RUNNING")

    lines, _ = sse_render.log_history(user=owner, deployment=deployment)
    texts = [line["text"] for line in lines]
    assert texts == [
        "uninstall llm: started",
        "Stopped",
        "llm: started",
        "Deployment failed",
        "llm: failed",
        "llm: waiting for the Helm job",
    ]
    separators = {line["text"]: line["separator"] for line in lines if line["separator"]}
    assert separators == {
        "llm: waiting for the Helm job": "Deploy",
        "llm: started": "Retry (attempt 2)",
        "uninstall llm: started": "Stop: uninstalling every release",
    }
    stopped = next(line for line in lines if line["text"] == "Stopped")
    assert not stopped["bad"]
    assert stopped["error"] == ""
    html = owner_browser.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "AWAITING_EVENT" not in html
    assert "execution completed" not in html
    assert html.index("uninstall llm: started") < html.index("Retry (attempt 2)") < html.index("llm: waiting for")


def test_it_does_not_start_a_new_attempt_on_the_stream_after_a_helm_job_event(deployment, owner):
    """A live stream goes on from the events already shown; a job event (no run) in between is no new attempt."""
    run = PipelineExecution.objects.create(owner=owner, dag={}, deployment_id=deployment.pk)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(pipeline_execution_id=str(run.pk), status="deploying")
    deployment.refresh_from_db()
    _event(deployment, run, "step_awaiting_event", "llm", status="AWAITING_EVENT")
    job = Event.objects.create(
        topic="budpipelineEvents",
        type="job_completed",
        deployment_id=deployment.pk,
        payload={"payload": {"job_type": "helm_deploy", "content": {"result": {"release_name": "rag-log-llm"}}}},
    )
    done = _event(deployment, run, "step_completed", "llm", status="COMPLETED")
    sse_render.prerender(deployment, [job, done])
    assert b"Helm installed rag-log-llm" in job.sse
    assert b"llm: done" in done.sse
    assert b"log-separator" not in job.sse + done.sse
