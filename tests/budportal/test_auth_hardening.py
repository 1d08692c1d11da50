"""Bearer tokens next to sessions, the token-failure limiter, and which client address is believed."""

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory

from budportal.client_ip import client_ip
from budportal.models import ApiToken
from usecases.models import UseCaseTemplate

pytestmark = pytest.mark.django_db

TEMPLATE = {
    "name": "bearer-made",
    "display_name": "Bearer made",
    "components": [{"name": "cache", "type": "helm", "chart": {"ref": "charts/valkey"}}],
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_accepts_a_bearer_post_despite_a_stale_session_cookie(owner):
    _, raw = ApiToken.issue(user=owner, name="ci")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.cookies["sessionid"] = "stale-session-from-last-week"

    response = client.post("/api/templates", TEMPLATE, content_type="application/json")

    assert response.status_code == 201, response.content
    assert UseCaseTemplate.objects.get(name="bearer-made").owner == owner


def test_it_authenticates_a_bearer_request_by_the_token_alone(owner, other_user):
    """A live session of another user does not stand in for a bad token, nor for a good one."""
    _, raw = ApiToken.issue(user=owner, name="ci")
    client = Client(enforce_csrf_checks=True)
    client.force_login(other_user)

    assert client.get("/api/me", HTTP_AUTHORIZATION="Bearer bud_wrong").status_code == 401
    assert client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}").json()["username"] == "owner"
    assert client.get("/api/me").json()["username"] == "other"  # the session alone still works
    # ...and a session POST still needs its CSRF token.
    assert client.post("/api/templates", TEMPLATE, content_type="application/json").status_code == 403
    assert not UseCaseTemplate.objects.exists()


def test_it_never_refuses_a_valid_token_after_bad_ones_from_the_same_address(owner, settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = 30
    _, raw = ApiToken.issue(user=owner, name="ci")
    proxy = {"REMOTE_ADDR": "10.1.1.1"}
    statuses = [Client(HTTP_AUTHORIZATION="Bearer bud_guess").get("/api/me", **proxy).status_code for _ in range(32)]
    assert statuses == [401] * 30 + [429] * 2

    valid = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert valid.get("/api/me", **proxy).status_code == 200
    assert valid.post("/api/templates", TEMPLATE, content_type="application/json", **proxy).status_code == 201
    assert UseCaseTemplate.objects.get().owner == owner
    # The guesser stays limited.
    assert Client(HTTP_AUTHORIZATION="Bearer bud_guess").get("/api/me", **proxy).status_code == 429


def test_it_ignores_a_forged_forwarded_header_from_an_untrusted_peer(settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = 3
    settings.TRUSTED_PROXIES = []
    guesser = Client(HTTP_AUTHORIZATION="Bearer bud_guess", REMOTE_ADDR="203.0.113.9")
    # A fresh forged address on every try does not reset the count...
    statuses = [guesser.get("/api/me", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code for i in range(5)]
    assert statuses == [401] * 3 + [429] * 2
    # ...and naming a victim's address does not lock the victim out.
    victim = Client(HTTP_AUTHORIZATION="Bearer bud_typo", REMOTE_ADDR="192.0.2.50")
    assert victim.get("/api/me").status_code == 401


def test_it_honours_forwarded_addresses_from_a_trusted_proxy(settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    guesser = Client(HTTP_AUTHORIZATION="Bearer bud_guess", REMOTE_ADDR="10.0.0.2")
    statuses = [guesser.get("/api/me", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code for _ in range(4)]
    assert statuses == [401] * 3 + [429]
    # Another client behind the same proxy is counted on its own.
    assert guesser.get("/api/me", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 401


@pytest.mark.parametrize(
    "peer, forwarded, trusted, expected",
    [
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", ["10.0.0.0/8"], "203.0.113.9"),  # the peer is no proxy of ours
        ("10.0.0.2", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),  # the left part is the client's own text
        ("10.0.0.2", "1.2.3.4, 10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),  # two proxies of ours
        ("10.0.0.2", "not-an-ip", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
        ("::1", "2001:db8::5", ["::1/128"], "2001:db8::5"),
        ("", "1.2.3.4", ["10.0.0.0/8"], None),  # no peer address (a unix socket)
        ("unix:/run/daphne.sock", "1.2.3.4", [], None),
    ],
)
def test_it_works_out_the_client_address(settings, peer, forwarded, trusted, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
