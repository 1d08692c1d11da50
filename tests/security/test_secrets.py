"""CSRF on session POSTs, secure cookies when DEBUG is off, hashed tokens, the token-failure rate limit, and
kubeconfigs: encrypted at rest, never logged, never answered (across a full deployment with the real helm)."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys

import pytest
import yaml
from django.core.cache import cache
from django.db import connection
from django.test import Client

from budportal.models import ApiToken
from pipelines.models import Notification, PipelineExecution
from tests.dbstate import everything
from tests.livestack import ROOT
from tests.security.test_scoping import all_routes

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
SECRET = "kube-secret-7f3a9c-never-show-me"


# --- CSRF ----------------------------------------------------------------------------------------------
def _browser(user, *, enforce: bool = True) -> Client:
    client = Client(enforce_csrf_checks=enforce)
    client.force_login(user)
    return client


# Routes that ignore the session (so a forged cross-site request carries nothing they trust).
NO_SESSION = {"api/pipelines/<pipeline_id>/webhook": "authenticated by the pipeline's own secret header only"}


def test_it_refuses_session_writes_without_a_csrf_token_on_every_unsafe_route(owned, owner):
    browser = _browser(owner)
    refused = []
    before = everything()
    for route in all_routes():
        if route.pattern in NO_SESSION:
            continue
        for method in (m for m in route.methods if m in UNSAFE) if route.api else ("post",):
            for url in route.urls(owned):
                response = getattr(browser, method)(url, "{}", content_type="application/json")
                if response.status_code != 405:
                    assert response.status_code == 403, (method, url, response.status_code)
                    refused.append(url)
    assert len(refused) >= 20, refused
    assert everything() == before  # a refused forgery changes nothing


def test_it_accepts_session_writes_with_the_csrf_token(owned, owner):
    browser = _browser(owner)
    browser.get("/notifications/")  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value

    page = browser.post(f"/notifications/{owned['notification_id']}/read", HTTP_X_CSRFTOKEN=token)
    api = browser.post(
        "/api/executions",
        {"name": "x", "steps": [{"id": "a", "action": "log", "params": {"message": "hi"}}]},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )

    assert page.status_code in (200, 302), (page.status_code, api.content)
    assert api.status_code == 201, (page.status_code, api.content)
    assert Notification.objects.get(pk=owned["notification_id"]).read_at is not None
    assert PipelineExecution.objects.get(pk=api.json()["execution_id"]).owner == owner


def test_it_lets_bearer_token_clients_write_without_csrf(owner, owner_api):
    # No cookie is sent, so no browser can be tricked into it: CSRF does not apply.
    response = owner_api.post(
        "/api/executions",
        {"name": "x", "steps": [{"id": "a", "action": "log", "params": {"message": "hi"}}]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    execution = PipelineExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.owner == owner
    assert list(execution.steps.values_list("step_id", flat=True)) == ["a"]


# --- cookies and production settings -------------------------------------------------------------------
def _settings_in_subprocess(**env: str) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({k: "
        "getattr(s, k, None) for k in ('SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY',"
        " 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_CONTENT_TYPE_NOSNIFF', 'X_FRAME_OPTIONS',"
        " 'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SAMESITE', 'DEBUG')}))"
    )
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "budportal.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_it_secures_cookies_and_transport_when_debug_is_off():
    production = _settings_in_subprocess(DEBUG="0", SECRET_KEY="a-real-secret-" + "k" * 50)
    assert production == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 3600,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "DEBUG": False,
    }
    assert _settings_in_subprocess(DEBUG="1")["SESSION_COOKIE_SECURE"] is False  # plain-HTTP development works


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "budportal.settings",
            "DEBUG": "0",
        },
    )
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr


# --- tokens ---------------------------------------------------------------------------------------------
def _table_text(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our own table names
        # PostgreSQL returns binary columns as memoryview, whose repr hides the bytes.
        return repr([[bytes(v) if isinstance(v, memoryview) else v for v in row] for row in cursor.fetchall()])


def _database_text() -> str:
    return "\n".join(_table_text(t) for t in connection.introspection.table_names())


def test_it_stores_api_tokens_only_as_sha256(owner):
    _, raw = ApiToken.issue(user=owner, name="ci")
    stored = _table_text(ApiToken._meta.db_table)
    assert raw not in stored
    assert raw[len("bud_") :] not in stored
    assert hashlib.sha256(raw.encode()).hexdigest() in stored
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/me").json()["username"] == "owner"


def test_it_rate_limits_token_failures_per_address(owner_api, settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = 5
    cache.clear()
    guesser = Client(HTTP_AUTHORIZATION="Bearer bud_guess", REMOTE_ADDR="10.9.8.7")
    statuses = [guesser.get("/api/deployments").status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert guesser.get("/api/deployments")["Retry-After"] == "60"
    # Another address is not punished for it.
    assert owner_api.get("/api/deployments", REMOTE_ADDR="10.9.8.8").status_code == 200
    cache.clear()


# --- kubeconfig -----------------------------------------------------------------------------------------
def _secret_kubeconfig(standin) -> str:
    config = yaml.safe_load(standin.kubeconfig())
    config["users"][0]["user"]["token"] = SECRET
    return yaml.safe_dump(config)


@pytest.fixture
def deployed_with_secret(owner_api, cluster_adder, kube_standin, deploy_settings, catalog, call, caplog):
    """A cluster whose kubeconfig holds SECRET, and valkey-cache deployed on it, with every log record kept."""
    caplog.set_level(logging.DEBUG)
    response = owner_api.post(
        "/api/clusters",
        {"name": "secret", "kubeconfig": _secret_kubeconfig(kube_standin)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    cluster = response.json()
    created = owner_api.post(
        "/api/deployments",
        {"name": "sec", "template": "valkey-cache", "cluster_id": cluster["id"]},
        content_type="application/json",
    )
    started = call(owner_api.post, f"/api/deployments/{created.json()['id']}/start")
    assert started.status_code == 200, started.content
    deployment = owner_api.get(f"/api/deployments/{created.json()['id']}").json()
    assert deployment["status"] == "running", deployment
    return cluster, deployment


def test_it_encrypts_the_kubeconfig_at_rest(deployed_with_secret):
    from clusterjobs.models import Cluster

    cluster, _ = deployed_with_secret
    everything = _database_text()
    assert SECRET not in everything
    assert SECRET.encode().hex() not in everything
    assert SECRET in Cluster.objects.get(pk=cluster["id"]).kubeconfig  # and it still decrypts


def test_it_never_logs_the_kubeconfig(deployed_with_secret, caplog):
    records = caplog.get_records("setup")  # the deployment ran while the fixture was set up
    assert len(records) > 10, "the deployment did not log at all"
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)
    assert "helm" in text.lower()
    assert SECRET not in text


def test_it_never_answers_the_kubeconfig(deployed_with_secret, owner_api, owner):
    cluster, deployment = deployed_with_secret
    browser = _browser(owner, enforce=False)
    answers = [
        owner_api.get(path)
        for path in (
            "/api/clusters",
            f"/api/clusters/{cluster['id']}",
            f"/api/deployments/{deployment['id']}",
            f"/api/deployments/{deployment['id']}/plan",
            f"/api/executions/{deployment['pipeline_execution_id']}",
            "/api/jobs",
            f"/api/jobs/{deployment['components'][0]['job_id']}",
            "/api/events",
            "/api/executions",
        )
    ] + [browser.get(path) for path in ("/clusters/", f"/deployments/{deployment['id']}/", "/deployments/")]
    assert [a.status_code for a in answers] == [200] * len(answers)
    for answer in answers:
        assert SECRET.encode() not in answer.content
        assert b"kube-standin" not in answer.content
