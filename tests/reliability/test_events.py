"""Events that arrive twice, late, out of order, of unknown kinds, or while the database is briefly unavailable,
against a real deployment (valkey-cache on the stand-in with the real helm; tasks inline)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import OperationalError

from clusterjobs.models import Job
from pipelines import events
from pipelines.events import JOB_EVENTS_TOPIC, publish
from pipelines.models import Event, StepExecution
from pipelines.sweep import sweep
from usecases.dag import CALLBACK_TOPIC
from usecases.listener import LISTENER_NAME
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def deploy(owner_api, create, call):
    def _deploy(name: str = "cache") -> UseCaseDeployment:
        created = create(name=name, template="valkey-cache")
        response = call(owner_api.post, f"/api/deployments/{created['id']}/start")
        assert response.status_code == 200, response.content
        return UseCaseDeployment.objects.get(pk=created["id"])

    return _deploy


def snapshot(deployment: UseCaseDeployment) -> tuple:
    deployment.refresh_from_db()
    component = deployment.components.get()
    steps = StepExecution.objects.filter(execution_id=deployment.pipeline_execution_id).order_by("step_id")
    return (
        deployment.status,
        deployment.completed_at,
        component.status,
        component.endpoint_url,
        component.completed_at,
        [(s.step_id, s.status, s.attempt, s.completed_at) for s in steps],
    )


@pytest.fixture
def replay(django_capture_on_commit_callbacks):
    """Publish an event as a worker would (dispatched after commit)."""

    def _replay(topic: str, event_type: str, payload: dict, **ids) -> Event:
        with django_capture_on_commit_callbacks(execute=True):
            event = publish(topic, event_type, payload, **ids)
        event.refresh_from_db()
        return event

    return _replay


def test_it_ignores_a_duplicated_job_completed_event(deploy, replay):
    deployment = deploy()
    before = snapshot(deployment)
    original = Event.objects.get(topic=JOB_EVENTS_TOPIC, type="job_completed")

    duplicate = replay(JOB_EVENTS_TOPIC, "job_completed", original.payload, deployment_id=deployment.pk)

    assert before[0] == "running"
    assert snapshot(deployment) == before
    assert duplicate.delivered
    assert duplicate.failures == 0
    assert Event.objects.filter(topic=CALLBACK_TOPIC, type="step_completed", step_id="cache").count() == 1


def test_it_does_not_move_a_running_deployment_back_on_a_late_job_failed_event(deploy, replay):
    deployment = deploy()
    before = snapshot(deployment)
    job = Job.objects.get()
    late = {
        "type": "job_failed",
        "workflow_id": str(job.pk),
        "payload": {
            "job_id": str(job.pk),
            "status": "FAILED",
            "error": "late",
            "content": {"result": {}, "status": "FAILED"},
        },
    }

    replay(JOB_EVENTS_TOPIC, "job_failed", late, deployment_id=deployment.pk)
    # Reordered callbacks too: a step_started and a failed execution_completed after the deployment finished.
    execution_id = deployment.pipeline_execution_id
    replay(
        CALLBACK_TOPIC,
        "step_started",
        {"execution_id": str(execution_id), "step_id": "cache", "status": "RUNNING"},
        execution_id=execution_id,
        step_id="cache",
    )
    replay(
        CALLBACK_TOPIC,
        "step_failed",
        {"execution_id": str(execution_id), "step_id": "cache", "status": "FAILED", "error": "late"},
        execution_id=execution_id,
        step_id="cache",
    )

    assert snapshot(deployment) == before
    job.refresh_from_db()
    assert job.status == "COMPLETED"


@pytest.mark.parametrize(
    "topic, event_type, payload",
    [
        (JOB_EVENTS_TOPIC, "job_exploded", {"workflow_id": "not-a-job", "payload": {}}),
        (JOB_EVENTS_TOPIC, "job_completed", {"workflow_id": "00000000-0000-0000-0000-000000000000"}),
        (JOB_EVENTS_TOPIC, "job_completed", {}),
        (CALLBACK_TOPIC, "step_teleported", {"execution_id": "00000000-0000-0000-0000-000000000000"}),
        (CALLBACK_TOPIC, "execution_completed", {"execution_id": "not-a-uuid", "status": "COMPLETED"}),
        ("noSuchTopic", "whatever", {"x": [1, 2, 3]}),
    ],
)
def test_it_accepts_unknown_and_malformed_events_harmlessly(deploy, replay, topic, event_type, payload):
    deployment = deploy()
    before = snapshot(deployment)

    event = replay(topic, event_type, payload)

    assert snapshot(deployment) == before
    assert event.delivered
    assert event.failures == 0
    assert sweep()["events_redelivered"] == 0


@pytest.fixture
def flaky_listener() -> Iterator[dict]:
    """The deployment listener, made to fail with OperationalError (the database briefly unavailable) on its
    first ``failures`` calls for ``execution_completed``."""
    (original,) = [s for s in events.subscribers(CALLBACK_TOPIC) if s.name == LISTENER_NAME]
    state = {"failures": 1, "calls": 0}

    def flaky(event: Event) -> None:
        if event.type == "execution_completed" and state["calls"] < state["failures"]:
            state["calls"] += 1
            raise OperationalError("could not connect to server: Connection refused")
        original.handler(event)

    events.subscribe(CALLBACK_TOPIC, flaky, name=LISTENER_NAME)
    yield state
    events.subscribe(CALLBACK_TOPIC, original.handler, name=LISTENER_NAME)


def test_it_retries_an_event_whose_handler_hit_a_database_error(deploy, flaky_listener):
    deployment = deploy()

    deployment.refresh_from_db()
    assert flaky_listener["calls"] == 1
    assert deployment.status == "running", deployment.error
    event = Event.objects.get(topic=CALLBACK_TOPIC, type="execution_completed")
    assert (event.failures, event.delivered, event.handled_by) == (1, True, [LISTENER_NAME])


def test_it_redelivers_from_the_sweep_when_every_quick_retry_failed(deploy, flaky_listener):
    flaky_listener["failures"] = events.MAX_DISPATCH_FAILURES  # the outage outlasts the immediate retries
    deployment = deploy()
    deployment.refresh_from_db()
    assert deployment.status == "deploying"  # the event is not lost, only not yet handled
    event = Event.objects.get(topic=CALLBACK_TOPIC, type="execution_completed")
    assert (event.failures, event.delivered) == (events.MAX_DISPATCH_FAILURES, False)

    assert sweep()["events_redelivered"] == 1

    deployment.refresh_from_db()
    event.refresh_from_db()
    assert deployment.status == "running"
    assert deployment.completed_at
    assert (event.delivered, event.handled_by) == (True, [LISTENER_NAME])


def test_it_redelivers_from_the_sweep_when_the_retry_task_was_lost(deploy, flaky_listener, monkeypatch):
    queue = events.async_task
    lost: list[tuple] = []

    def crash_before_retry(func: str, *args, **kwargs):
        # The worker dies after the failed delivery, before its retry task reaches the queue.
        if func == "pipelines.tasks.dispatch_event":
            return lost.append(args)
        return queue(func, *args, **kwargs)

    monkeypatch.setattr(events, "async_task", crash_before_retry)
    deployment = deploy()
    monkeypatch.undo()
    assert len(lost) == 1
    deployment.refresh_from_db()
    assert deployment.status == "deploying"
    event = Event.objects.get(topic=CALLBACK_TOPIC, type="execution_completed")
    assert (event.failures, event.delivered) == (1, False)

    assert sweep()["events_redelivered"] == 1

    deployment.refresh_from_db()
    event.refresh_from_db()
    assert deployment.status == "running"
    assert deployment.completed_at
    assert (event.delivered, event.handled_by) == (True, [LISTENER_NAME])
