import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator
from django.test import Client

from budportal.asgi import application
from pipelines.consumers import ExecutionEventsConsumer
from pipelines.events import JOB_EVENTS_TOPIC, publish
from pipelines.models import Event
from pipelines.services import execution_submit
from tests.pipelines.conftest import dag, job_event, step

pytestmark = pytest.mark.django_db(transaction=True)


def scope_for(user, execution_id, headers=(), query=b"") -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/executions/{execution_id}/events",
        "raw_path": f"/executions/{execution_id}/events".encode(),
        "query_string": query,
        "headers": list(headers),
        "user": user,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "url_route": {"args": (), "kwargs": {"execution_id": execution_id}},
    }


async def open_stream(app, scope) -> tuple[ApplicationCommunicator, dict]:
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=5)
    return communicator, start


async def read_until_closed(communicator: ApplicationCommunicator, timeout: float = 10) -> str:
    chunks = []
    while True:
        message = await communicator.receive_output(timeout=timeout)
        chunks.append(message.get("body", b"").decode())
        if not message.get("more_body"):
            return "".join(chunks)


def ids_in(text: str) -> list[int]:
    return [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]


async def test_it_replays_a_finished_execution_and_closes(owner):
    execution = await sync_to_async(execution_submit)(dag=dag(step("a"), step("b", depends_on=["a"])), owner=owner)
    communicator, start = await open_stream(ExecutionEventsConsumer.as_asgi(), scope_for(owner, execution.pk))
    assert start["status"] == 200
    assert (b"Content-Type", b"text/event-stream") in start["headers"]
    text = await read_until_closed(communicator)
    assert text.startswith(": connected")
    expected = await sync_to_async(
        lambda: list(Event.objects.filter(execution=execution).values_list("id", flat=True))
    )()
    assert ids_in(text) == expected
    assert "event: execution_completed\ndata: {" in text
    assert '"status": "COMPLETED"' in text


async def test_it_replays_only_events_after_last_event_id(owner):
    execution = await sync_to_async(execution_submit)(dag=dag(step("a"), step("b", depends_on=["a"])), owner=owner)
    all_ids = await sync_to_async(
        lambda: list(Event.objects.filter(execution=execution).values_list("id", flat=True))
    )()
    for scope in (
        scope_for(owner, execution.pk, headers=[(b"last-event-id", str(all_ids[2]).encode())]),
        scope_for(owner, execution.pk, query=f"last_event_id={all_ids[2]}".encode()),
    ):
        communicator, _ = await open_stream(ExecutionEventsConsumer.as_asgi(), scope)
        assert ids_in(await read_until_closed(communicator)) == all_ids[3:]


async def test_it_streams_new_events_then_closes_when_the_execution_finishes(owner, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.2
    the_dag = dag(step("deploy", "test_wait_for_job", params={"job_id": "sse-1"}), step("b", depends_on=["deploy"]))
    execution = await sync_to_async(execution_submit)(dag=the_dag, owner=owner)
    communicator, start = await open_stream(ExecutionEventsConsumer.as_asgi(), scope_for(owner, execution.pk))
    assert start["status"] == 200
    first = ""
    while "step_awaiting_event" not in first or ": ping" not in first:
        first += (await communicator.receive_output(timeout=5))["body"].decode()
    body = job_event("sse-1")
    await sync_to_async(publish)(JOB_EVENTS_TOPIC, body["type"], body)
    rest = await read_until_closed(communicator)
    assert "event: step_completed" in rest
    assert "event: execution_completed" in rest
    last_data = [line for line in rest.splitlines() if line.startswith("data: ")][-1]
    assert json.loads(last_data[6:])["status"] == "COMPLETED"


async def test_it_answers_404_to_another_user_and_to_anonymous(owner, other_user):
    from django.contrib.auth.models import AnonymousUser

    execution = await sync_to_async(execution_submit)(dag=dag(step("a")), owner=owner)
    for user in (other_user, AnonymousUser()):
        communicator, start = await open_stream(ExecutionEventsConsumer.as_asgi(), scope_for(user, execution.pk))
        assert start["status"] == 404
        await communicator.wait(timeout=5)


async def test_it_authenticates_the_browser_session_through_the_asgi_routes(owner, other_user):
    execution = await sync_to_async(execution_submit)(dag=dag(step("a")), owner=owner)

    def cookie_for(user) -> bytes:
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    for user, status in ((owner, 200), (other_user, 404)):
        cookie = await sync_to_async(cookie_for)(user)
        scope = scope_for(None, execution.pk, headers=[(b"cookie", cookie), (b"host", b"testserver")])
        del scope["user"], scope["url_route"]
        communicator, start = await open_stream(application, scope)
        assert start["status"] == status
        if status == 200:
            assert "event: execution_completed" in await read_until_closed(communicator)
        await asyncio.sleep(0)
