"""A web process remembers a valid bearer token for ``API_TOKEN_CACHE_SECONDS``: no token query per API call, and
a token revoked elsewhere (another web process, the shell) stops working within that bound."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from budportal import auth
from budportal.models import ApiToken

pytestmark = pytest.mark.django_db


class Clock:
    """``time.monotonic`` as the token cache sees it, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(auth.time, "monotonic", clock)
    auth.token_cache.clear()
    yield clock
    auth.token_cache.clear()


def _revoke_elsewhere(token: ApiToken) -> None:
    # A queryset delete of a model with no dependants sends no signal: like a revocation in another process.
    assert ApiToken.objects.filter(pk=token.pk)._raw_delete(ApiToken.objects.db) == 1


def test_a_known_token_costs_no_token_query(owner, clock, django_assert_num_queries) -> None:
    _, raw = ApiToken.issue(user=owner, name="ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/me").status_code == 200
    with django_assert_num_queries(0):
        response = client.get("/api/me")
    assert response.status_code == 200
    assert response.json()["username"] == owner.username


@override_settings(API_TOKEN_CACHE_SECONDS=5)
def test_a_token_revoked_in_another_process_stops_working_within_the_bound(owner, clock) -> None:
    token, raw = ApiToken.issue(user=owner, name="ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/me").status_code == 200
    _revoke_elsewhere(token)
    clock.now += 4.9
    assert client.get("/api/me").status_code == 200  # inside the documented bound: still remembered
    clock.now += 0.1
    assert client.get("/api/me").status_code == 401


def test_revoking_in_this_process_takes_effect_at_once(owner, clock) -> None:
    token, raw = ApiToken.issue(user=owner, name="ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/me").status_code == 200
    token.delete()  # the admin's delete: post_delete drops the entry
    assert client.get("/api/me").status_code == 401


def test_deactivating_the_user_or_moving_the_expiry_takes_effect_at_once(owner, clock) -> None:
    token, raw = ApiToken.issue(user=owner, name="ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/me").status_code == 200
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    assert client.get("/api/me").status_code == 401

    other = get_user_model().objects.create_user("other", password="x" * 16)
    _, raw = ApiToken.issue(user=other, name="ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/me").status_code == 200
    other.is_active = False
    other.save()
    assert client.get("/api/me").status_code == 401


def test_an_expiry_passing_while_cached_is_honoured(owner, clock) -> None:
    _, raw = ApiToken.issue(user=owner, name="ci", expires_at=timezone.now() + timedelta(seconds=1))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/me").status_code == 200
    later = timezone.now() + timedelta(seconds=2)
    with mock.patch("budportal.auth.timezone.now", return_value=later):
        assert client.get("/api/me").status_code == 401


def test_a_bad_token_is_never_remembered_and_still_counts_as_a_failure(owner, clock) -> None:
    client = Client(HTTP_AUTHORIZATION="Bearer bud_not-a-token")
    for _ in range(3):
        assert client.get("/api/me").status_code == 401
    assert not auth.token_cache._entries


def test_each_request_gets_its_own_user_object(owner, clock) -> None:
    _, raw = ApiToken.issue(user=owner, name="ci")
    first, second = (auth._lookup(auth.hash_token(raw)) for _ in range(2))
    assert first is second  # one cache entry
    request_users = []
    for _ in range(2):
        request = RequestFactory().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
        request_users.append(auth.BearerTokenAuth()(request))
    assert request_users[0] == request_users[1]  # the same user
    assert request_users[0] is not request_users[1]  # but not one shared object
