"""Log-in throttling with django-axes: per username and client address, a clear 429 form, staff unlock."""

from datetime import datetime

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from budportal.models import ApiToken

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
GOOD = {"username": "owner", "password": "pw-owner-123"}
BAD = {"username": "owner", "password": "guess"}


def _client(address: str = "203.0.113.9", **extra) -> Client:
    return Client(REMOTE_ADDR=address, **extra)


def _lock_out(client: Client, **extra) -> list[int]:
    return [client.post(LOGIN, BAD, **extra).status_code for _ in range(5)]


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _failures(address: str = "203.0.113.9") -> int:
    """The failed log-ins axes has stored for ``owner`` from ``address`` (0 without a row)."""
    attempt = AccessAttempt.objects.filter(username="owner", ip_address=address).first()
    return attempt.failures_since_start if attempt else 0


def _last_login(user) -> datetime | None:
    user.refresh_from_db()
    return user.last_login


def test_it_locks_a_user_out_from_one_address_after_the_failure_limit(owner):
    attacker = _client()
    assert _lock_out(attacker) == [200, 200, 200, 200, 429]

    response = attacker.post(LOGIN, GOOD)  # even the right password, now

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    html = response.content.decode()
    assert 'id="lockout"' in html
    assert "Try again" in html
    assert "15 minutes" in html
    assert 'name="username"' in html
    assert 'value="owner"' in html
    assert not _logged_in(attacker)
    assert _last_login(owner) is None
    attempt = AccessAttempt.objects.get(username="owner", ip_address="203.0.113.9")
    assert attempt.failures_since_start >= 5


def test_it_still_lets_the_user_in_from_another_address(owner):
    _lock_out(_client("203.0.113.9"))
    user = _client("198.51.100.20")

    assert user.post(LOGIN, GOOD).status_code == 302
    assert _logged_in(user)
    assert _last_login(owner) is not None
    assert _failures("203.0.113.9") >= 5  # still locked there
    assert _failures("198.51.100.20") == 0


def test_it_keeps_the_lockout_when_the_attacker_forges_x_forwarded_for(owner, settings):
    settings.TRUSTED_PROXIES = []
    attacker = _client()
    statuses = [attacker.post(LOGIN, BAD, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(6)]
    assert statuses[-2:] == [429, 429]
    assert attacker.post(LOGIN, GOOD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


def test_it_counts_clients_behind_a_trusted_proxy_apart(owner, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = _client("10.0.0.2")
    assert _lock_out(proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")[-1] == 429
    # The user, behind the same proxy at another address, is not locked out.
    assert proxy.post(LOGIN, GOOD, HTTP_X_FORWARDED_FOR="198.51.100.20").status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}  # not the proxy's


def test_it_clears_failures_on_a_successful_log_in(owner):
    client = _client()
    for _ in range(4):
        client.post(LOGIN, BAD)
    assert client.post(LOGIN, GOOD).status_code == 302
    assert _failures() == 0
    client.logout()
    assert [client.post(LOGIN, BAD).status_code for _ in range(4)] == [200] * 4
    assert _failures() == 4


def test_it_lets_staff_unlock_a_user_in_the_admin(owner, django_user_model):
    _lock_out(_client())
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123"))
    attempt = AccessAttempt.objects.get(username="owner")
    assert admin.get("/admin/axes/accessattempt/").status_code == 200

    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _client().post(LOGIN, GOOD).status_code == 302


def test_it_unlocks_a_user_from_the_command_line(owner):
    _lock_out(_client())
    call_command("axes_reset_username", "owner")
    assert not AccessAttempt.objects.exists()
    assert _client().post(LOGIN, GOOD).status_code == 302
    assert _last_login(owner) is not None


def test_it_locks_the_admin_log_in_too(owner):
    _lock_out(_client())
    assert _client().post("/admin/login/", GOOD).status_code == 429
    assert _last_login(owner) is None


def test_it_does_not_lock_out_bearer_tokens_of_a_locked_out_user(owner):
    _lock_out(_client())
    _, raw = ApiToken.issue(user=owner, name="ci")
    assert _client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/me").status_code == 200
    assert ApiToken.objects.get(user=owner).last_used_at is not None
    assert _failures() >= 5  # the token did not unlock the form either


@pytest.mark.django_db(transaction=True)
async def test_it_answers_the_lockout_form_under_asgi_too(owner):
    """daphne runs the middleware chain async, where axes calls the lockout callable with other arguments."""
    from django.test import AsyncClient

    client = AsyncClient(REMOTE_ADDR="203.0.113.9")
    statuses = [(await client.post(LOGIN, BAD)).status_code for _ in range(5)]
    response = await client.post(LOGIN, GOOD)

    assert statuses[-1] == 429
    assert response.status_code == 429
    assert 'id="lockout"' in response.content.decode()
    assert (await AccessAttempt.objects.aget(username="owner")).failures_since_start >= 5
    assert (await type(owner).objects.aget(pk=owner.pk)).last_login is None
