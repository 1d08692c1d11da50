"""The SSE hook for the deployment page (``usecases.sse_render.DeploymentStreamMixin``) inside a real
``EventStreamConsumer``: HTML fragments for the log and the state, ``done`` at rest, resume after an id."""

import pytest
from asgiref.sync import sync_to_async
from django.db.models import Q

from pipelines.consumers import EventStreamConsumer
from pipelines.events import publish
from pipelines.models import Event
from tests.pipelines.test_sse import open_stream, read_until_closed
from usecases import sse_render
from usecases.models.deployments import UseCaseDeployment
from usecases.selectors.deployments import deployment_list
from usecases.services.deployments import deployment_create
from usecases.sse_render import RESTING, DeploymentStreamMixin

pytestmark = pytest.mark.django_db(transaction=True)


class StreamConsumer(DeploymentStreamMixin, EventStreamConsumer):
    group_prefix = "deployment"

    def load_object(self, user):
        return deployment_list(user=user).filter(pk=self.scope["url_route"]["kwargs"]["deployment_id"]).first()

    def event_filter(self) -> Q:
        return Q(deployment_id=self.object.pk)

    def is_finished(self) -> bool:
        self.object.refresh_from_db(fields=["status"])
        return self.object.status in RESTING


def scope_for(user, deployment_id, query: bytes = b"") -> dict:
    path = f"/deployments/{deployment_id}/events"
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [],
        "user": user,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "url_route": {"args": (), "kwargs": {"deployment_id": deployment_id}},
    }


@pytest.fixture
def running_deployment(owner, catalog, sandbox):
    deployment = deployment_create(owner=owner, name="rag-s", template="agent-rag", cluster_id=sandbox.pk)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="running")
    deployment.components.update(status="running")
    first = publish(
        "budusecasesEvents", "step_completed", {"status": "COMPLETED"}, step_id="llm", deployment_id=deployment.pk
    )
    second = publish("budusecasesEvents", "execution_completed", {"status": "COMPLETED"}, deployment_id=deployment.pk)
    return deployment, first.pk, second.pk


async def test_it_streams_html_log_lines_the_state_and_done(owner, running_deployment):
    deployment, first, second = running_deployment
    communicator, start = await open_stream(StreamConsumer.as_asgi(), scope_for(owner, deployment.pk))
    assert start["status"] == 200
    text = await read_until_closed(communicator)
    assert f'id: {first}\nevent: log\ndata: <li id="ev-{first}"' in text
    assert f"id: {second}\nevent: state\ndata: " in text
    assert 'id="progress-card"' in text
    assert text.rstrip().endswith("event: done\ndata:")
    assert text.count("event: state") == 1  # one state per batch, not one per event


async def test_it_resumes_after_the_last_event_id(owner, running_deployment):
    deployment, first, second = running_deployment
    scope = scope_for(owner, deployment.pk, query=f"last_event_id={first}".encode())
    communicator, _ = await open_stream(StreamConsumer.as_asgi(), scope)
    text = await read_until_closed(communicator)
    assert f'id="ev-{first}"' not in text
    assert f'id="ev-{second}"' in text


async def test_it_pushes_the_state_when_the_deployment_changes_without_an_event(owner, running_deployment, settings):
    settings.SSE_POLL_SECONDS = 0.05
    deployment, first, second = running_deployment
    await sync_to_async(UseCaseDeployment.objects.filter(pk=deployment.pk).update)(status="deploying")
    scope = scope_for(owner, deployment.pk, query=f"last_event_id={second}".encode())
    communicator, _ = await open_stream(StreamConsumer.as_asgi(), scope)
    body = ""
    while "event: state" not in body:
        body += (await communicator.receive_output(timeout=5))["body"].decode()
    assert 'data-status="deploying"' in body
    # The listener applies the final status after the last event: the page gets it without a new event.
    await sync_to_async(UseCaseDeployment.objects.filter(pk=deployment.pk).update)(status="running")
    rest = await read_until_closed(communicator)
    assert 'data-status="running"' in rest
    assert "event: done" in rest


async def test_it_streams_nothing_to_another_user(other_user, running_deployment):
    deployment, _, _ = running_deployment
    communicator, start = await open_stream(StreamConsumer.as_asgi(), scope_for(other_user, deployment.pk))
    assert start["status"] == 404


class _OneBatchOfEvents:
    def read_events(self, after: int) -> list:
        batch, self.batch = self.batch, []
        return batch


class _Probe(DeploymentStreamMixin, _OneBatchOfEvents):
    def __init__(self, deployment, events):
        self.object = deployment
        self.batch = events


def test_a_change_committed_while_the_state_renders_is_pushed_on_the_next_poll(running_deployment, monkeypatch):
    deployment, _, second = running_deployment
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="deploying")
    probe = _Probe(deployment, [Event.objects.get(pk=second)])
    render = sse_render.render_state

    def render_then_commit(d):
        html = render(d)
        UseCaseDeployment.objects.filter(pk=d.pk).update(status="running")  # the listener commits meanwhile
        return html

    monkeypatch.setattr(sse_render, "render_state", render_then_commit)
    first = probe.read_events(second - 1)
    assert b'data-status="deploying"' in first[-1].sse
    monkeypatch.setattr(sse_render, "render_state", render)
    pushed = probe.read_events(second)
    assert pushed, "the page would keep showing 'deploying' although the deployment is running"
    assert b'data-status="running"' in pushed[0].sse
