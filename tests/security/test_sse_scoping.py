"""The SSE routes (served by Channels, outside Django's resolver) are scoped too: enumerated from the ASGI app."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.test import Client

from budportal.asgi import application
from tests.security.test_scoping import PARAM

pytestmark = pytest.mark.django_db(transaction=True)


def sse_patterns() -> list[str]:
    router = application.application_mapping["http"]
    while not hasattr(router, "routes"):  # Cookie → Session → Auth middleware, then the URLRouter
        router = router.inner
    return [str(route.pattern) for route in router.routes if str(route.pattern)]


async def _status(path: str, cookie: str | None) -> int:
    headers = [(b"cookie", cookie.encode())] if cookie else []
    communicator = HttpCommunicator(application, "GET", path, headers=headers)
    response = await communicator.get_response(timeout=10)
    return response["status"]


@pytest.fixture
def execution_delay_seconds() -> float:
    return 0


@pytest.fixture
def other_cookie(other_user) -> str:
    client = Client()
    client.force_login(other_user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_it_answers_404_on_every_sse_route_to_another_user_and_anonymous(owned, other_cookie):
    patterns = sse_patterns()
    assert len(patterns) >= 2, patterns  # executions and deployments
    for pattern in patterns:
        params = [a or b for a, b in PARAM.findall(pattern)]
        assert params, f"SSE route {pattern} names an unknown object kind"
        assert all(p in owned for p in params), f"SSE route {pattern} names an unknown object kind"
        path = "/" + PARAM.sub(lambda m: str(owned[m.group(1) or m.group(2)]), pattern)
        assert await _status(path, other_cookie) == 404, pattern
        assert await _status(path, None) in (401, 404), pattern


async def test_it_streams_to_the_owner(owned, owner):
    client = Client()
    await sync_to_async(client.force_login)(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    path = f"/deployments/{owned['deployment_id']}/events"
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"cookie", cookie.encode())])
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    await communicator.send_input({"type": "http.disconnect"})
