"""``/deployments/<id>/events``: the deployment's own stream, its owner only."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from budportal.routing import sse_urlpatterns
from pipelines.events import publish
from tests.pipelines.test_sse import open_stream, read_until_closed
from usecases.consumers import DeploymentEventsConsumer, DeploymentHealthConsumer
from usecases.models.deployments import UseCaseDeployment
from usecases.services.deployments import deployment_create
from usecases.services.health import deployment_record_health

pytestmark = pytest.mark.django_db(transaction=True)


def scope_for(user, deployment_id) -> dict:
    path = f"/deployments/{deployment_id}/events"
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "user": user,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "url_route": {"args": (), "kwargs": {"deployment_id": deployment_id}},
    }


@pytest.fixture
def failed_deployment(owner, catalog, sandbox):
    deployment = deployment_create(owner=owner, name="rag-s", template="agent-rag", cluster_id=sandbox.pk)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="failed", error="boom")
    mine = publish(
        "budusecasesEvents",
        "step_failed",
        {"status": "FAILED", "error": "boom"},
        step_id="llm",
        deployment_id=deployment.pk,
    )
    publish("budusecasesEvents", "step_failed", {"status": "FAILED"}, step_id="llm", deployment_id=uuid.uuid4())
    return deployment, mine.pk


def test_it_is_routed_at_deployments_id_events():
    route = next(p for p in sse_urlpatterns if p.name == "deployment-events")
    match = route.pattern.match(f"deployments/{uuid.uuid4()}/events")
    assert match is not None
    assert route.callback.consumer_class is DeploymentEventsConsumer


async def test_it_streams_only_this_deployments_events_and_closes_at_rest(owner, failed_deployment):
    deployment, mine = failed_deployment
    communicator, start = await open_stream(DeploymentEventsConsumer.as_asgi(), scope_for(owner, deployment.pk))
    assert start["status"] == 200
    text = await read_until_closed(communicator)
    ids = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
    assert set(ids) == {mine}
    assert "event: log" in text
    assert "event: done" in text
    assert await sync_to_async(lambda: UseCaseDeployment.objects.get(pk=deployment.pk).status)() == "failed"


async def test_it_answers_404_to_another_user(other_user, failed_deployment):
    deployment, _ = failed_deployment
    communicator, start = await open_stream(DeploymentEventsConsumer.as_asgi(), scope_for(other_user, deployment.pk))
    assert start["status"] == 404


async def test_the_health_stream_pushes_the_fresh_resource_tree_on_a_health_change(
    owner, other_user, failed_deployment
):
    deployment, _ = failed_deployment
    snapshot = {
        "health": "Degraded",
        "sync": "Synced",
        "reason": "",
        "requests": 0,
        "components": [
            {
                "name": "llm",
                "release": "rag-s-llm",
                "health": "Degraded",
                "sync": "Synced",
                "message": "",
                "objects": [
                    {
                        "kind": "Pod",
                        "name": "p-1",
                        "health": "Degraded",
                        "message": "CrashLoopBackOff",
                        "sync": "Synced",
                        "drift": [],
                        "children": [],
                    }
                ],
            }
        ],
    }
    await sync_to_async(deployment_record_health)(deployment=deployment, snapshot=snapshot)
    app = DeploymentHealthConsumer.as_asgi()

    communicator, start = await open_stream(app, scope_for(owner, deployment.pk))
    text = await read_until_closed(communicator)  # the deployment is not running: replay, then close

    assert start["status"] == 200
    assert text.count("event: health") == 1
    assert "event: log" not in text
    assert 'id="deployment-health">Degraded<' in text
    assert 'data-name="p-1" data-health="Degraded"' in text
    assert (await open_stream(app, scope_for(other_user, deployment.pk)))[1]["status"] == 404
