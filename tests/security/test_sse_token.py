"""API clients follow a deployment or an execution over SSE with their bearer token; scoping still holds."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.core.cache import cache

from budportal.asgi import application
from budportal.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def execution_delay_seconds() -> float:
    return 0


@pytest.fixture(autouse=True)
def no_failed_attempts():
    cache.clear()  # the failed-token counter lives in the cache
    yield
    cache.clear()


async def issue(user) -> str:
    _, raw = await sync_to_async(ApiToken.issue)(user=user, name="sse")
    return raw


async def open_stream(path: str, authorization: str | None) -> dict:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    communicator = HttpCommunicator(application, "GET", path, headers=headers)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    await communicator.send_input({"type": "http.disconnect"})
    return start


def stream_paths(owned) -> list[str]:
    return [f"/deployments/{owned['deployment_id']}/events", f"/executions/{owned['execution_id']}/events"]


async def test_it_opens_the_streams_with_the_owners_bearer_token(owned, owner):
    token = await issue(owner)
    for path in stream_paths(owned):
        start = await open_stream(path, f"Bearer {token}")
        assert start["status"] == 200, path
        assert (b"Content-Type", b"text/event-stream") in start["headers"]
    last_used = await sync_to_async(lambda: ApiToken.objects.get(user=owner).last_used_at)()
    assert last_used is not None  # the API's own token check ran


async def test_it_answers_404_to_another_users_or_a_bad_token(owned, other_user):
    token = await issue(other_user)
    for path in stream_paths(owned):
        assert (await open_stream(path, f"Bearer {token}"))["status"] == 404, path
        assert (await open_stream(path, "Bearer not-a-token"))["status"] == 404, path
        assert (await open_stream(path, f"Basic {token}"))["status"] == 404, path


async def test_it_slows_token_guessing_on_the_streams_like_the_api(owned, settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = 2
    path = stream_paths(owned)[0]
    statuses = [(await open_stream(path, f"Bearer guess-{n}"))["status"] for n in range(4)]
    assert statuses == [404, 404, 429, 429]
