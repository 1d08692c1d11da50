"""The listener on budusecasesEvents: statuses move through the engine's events, forward only. Events are
published on the real bus (``pipelines.execution_events``) for a started deployment whose steps never ran."""

from __future__ import annotations

import pytest

from pipelines import execution_events
from pipelines.events import publish
from pipelines.models import Event, PipelineExecution
from tests.usecases.deployments.conftest import components
from usecases import listener
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(owner_api, create) -> tuple[UseCaseDeployment, PipelineExecution]:
    """A deployment started without running its queued steps (the on-commit callbacks are dropped)."""
    created = create()
    owner_api.post(f"/api/deployments/{created['id']}/start")
    deployment = UseCaseDeployment.objects.get(pk=created["id"])
    return deployment, PipelineExecution.objects.get(pk=deployment.pipeline_execution_id)


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """Publish a step event as the engine does; it is dispatched to the listener after commit."""

    def _emit(execution, step_id, event_type, status, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            execution_events.step_event(execution, step_id, event_type, status, **kwargs)

    return _emit


def test_it_moves_a_component_through_its_step_events(started, emit):
    deployment, execution = started
    emit(execution, "llm", "step_started", "RUNNING")
    assert components(deployment.pk)["llm"].status == "deploying"
    assert components(deployment.pk)["llm"].started_at is not None
    emit(execution, "llm", "step_awaiting_event", "AWAITING_EVENT", outputs={"job_id": "job-1", "release_name": "r"})
    assert components(deployment.pk)["llm"].job_id == "job-1"
    emit(
        execution, "llm", "step_completed", "COMPLETED", outputs={"job_id": "job-1", "endpoint_url": "http://llm:8000"}
    )
    llm = components(deployment.pk)["llm"]
    assert (llm.status, llm.endpoint_url) == ("running", "http://llm:8000")
    assert llm.completed_at is not None


def test_it_never_moves_a_status_backwards_on_duplicate_or_late_events(started, emit):
    deployment, execution = started
    emit(execution, "llm", "step_started", "RUNNING")
    late_started = Event.objects.filter(step_id="llm", type="step_started").get()
    emit(execution, "llm", "step_completed", "COMPLETED", outputs={"endpoint_url": "http://llm:8000"})
    emit(execution, "llm", "step_started", "RUNNING")  # duplicate, after completion
    emit(execution, "llm", "step_failed", "FAILED", error="late failure")  # out of order
    listener.handle_event(late_started)  # redelivered by the sweep
    llm = components(deployment.pk)["llm"]
    assert (llm.status, llm.endpoint_url, llm.error) == ("running", "http://llm:8000", "")


def test_it_keeps_a_failed_component_failed_when_a_stale_completion_arrives(started, emit):
    deployment, execution = started
    emit(execution, "vector_db", "step_failed", "FAILED", error="boom")
    emit(execution, "vector_db", "step_completed", "COMPLETED", outputs={"endpoint_url": "http://x"})
    vector_db = components(deployment.pk)["vector_db"]
    assert (vector_db.status, vector_db.error, vector_db.endpoint_url) == ("failed", "boom", "")


def test_it_finishes_the_deployment_once_and_ignores_a_late_failure(started, django_capture_on_commit_callbacks):
    deployment, execution = started
    execution.status = "COMPLETED"
    with django_capture_on_commit_callbacks(execute=True):
        execution_events.execution_event(execution)
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "running"
    execution.status, execution.error = "FAILED", "too late"
    with django_capture_on_commit_callbacks(execute=True):
        execution_events.execution_event(execution)
    deployment.refresh_from_db()
    assert (deployment.status, deployment.error) == ("running", "")


def test_it_ignores_events_of_unknown_executions_and_non_component_steps(
    started, emit, django_capture_on_commit_callbacks
):
    deployment, execution = started
    emit(execution, "cluster_health", "step_failed", "FAILED", error="unhealthy")
    emit(execution, "notify_complete", "step_completed", "COMPLETED")
    with django_capture_on_commit_callbacks(execute=True):
        publish(
            "budusecasesEvents",
            "execution_completed",
            {"type": "execution_completed", "execution_id": "00000000-0000-0000-0000-000000000000", "status": "FAILED"},
        )
        publish("budusecasesEvents", "step_failed", {"type": "step_failed", "step_id": "llm", "status": "FAILED"})
    deployment.refresh_from_db()
    assert deployment.status == "deploying"
    assert {c.status for c in deployment.components.all()} == {"deploying"}
    assert all("usecases.deployment_listener" in e.handled_by for e in Event.objects.filter(topic="budusecasesEvents"))


def test_it_stops_a_deployment_whose_execution_was_cancelled_elsewhere(started, django_capture_on_commit_callbacks):
    from pipelines.services import execution_cancel

    deployment, execution = started
    with django_capture_on_commit_callbacks(execute=True):
        execution_cancel(execution_id=execution.pk)  # e.g. POST /api/executions/{id}/cancel
    deployment.refresh_from_db()
    assert deployment.status == "stopped"  # through the same uninstall path as a stop (nothing was installed)
    # No component had started, so none was stopped: they stay pending rather than being labelled "stopped".
    assert {c.status for c in deployment.components.all()} == {"pending"}
