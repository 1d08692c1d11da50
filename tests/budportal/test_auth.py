import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings

from budportal.auth import token_cache
from budportal.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def test_it_refuses_the_api_without_credentials(client):
    response = client.get("/api/me")
    assert response.status_code == 401


def test_it_accepts_a_bearer_token_and_stores_only_its_hash(owner):
    token, raw = ApiToken.issue(user=owner, name="ci")
    assert raw not in {token.token_hash, token.prefix}
    assert token.token_hash == hash_token(raw)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/me")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_it_refuses_an_unknown_or_expired_token(owner):
    from django.utils import timezone

    _, raw = ApiToken.issue(user=owner, name="old", expires_at=timezone.now())
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/me").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer bud_nope").get("/api/me").status_code == 401


@override_settings(API_TOKEN_FAILURES_PER_MINUTE=3)
def test_it_rate_limits_repeated_token_failures(owner):
    cache.clear()
    bad = Client(HTTP_AUTHORIZATION="Bearer bud_wrong")
    statuses = [bad.get("/api/me").status_code for _ in range(5)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    cache.clear()


def test_it_issues_tokens_from_the_command_line(owner, capsys):
    call_command("create_api_token", "owner", "--name", "laptop")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("bud_")
    assert ApiToken.objects.get(name="laptop").token_hash == hash_token(raw)


def test_it_serves_the_openapi_docs(client):
    assert client.get("/api/docs").status_code == 200
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "Bud Portal API"


def test_it_reports_health(client):
    assert client.get("/healthz").json()["status"] == "ok"


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_records_token_use_at_most_once_a_minute(owner):
    from datetime import timedelta

    from django.utils import timezone

    token, raw = ApiToken.issue(user=owner, name="busy")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)
    assert client.get("/api/me").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at == recent

    stale = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    token_cache.clear()  # five minutes on, the process's token cache (API_TOKEN_CACHE_SECONDS) has long expired
    assert client.get("/api/me").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at > stale
