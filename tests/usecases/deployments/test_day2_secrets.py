"""Secret values in a deployment's overrides: stored encrypted, handed to Helm (the stand-in's Deployment gets
them), never in a response, page, plan, diff, event, log or database row in clear, and rotated by an upgrade."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client

from tests.dbstate import everything
from usecases.models.deployments import DeploymentRevision

pytestmark = pytest.mark.django_db

SECRET = "day2-secret-4b1d9e-never-show-me"
ROTATED = "day2-rotated-8c2f7a-never-show-me"


def _database_text() -> str:
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our own tables
            rows.append(
                repr([[bytes(v) if isinstance(v, memoryview) else v for v in row] for row in cursor.fetchall()])
            )
    return "\n".join(rows)


def agent_env(standin, namespace: str) -> dict[str, str]:
    agent = next(d for d in standin.objects("Deployment", namespace) if d["metadata"]["name"] == "my-rag-agent-runtime")
    return {e["name"]: e.get("value") for e in agent["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.fixture
def with_secret(owner_api, create, call, caplog) -> dict:
    """agent-rag deployed, then upgraded with a secret env value for the agent; every log record kept."""
    caplog.set_level(logging.DEBUG)
    created = create()
    pk = created["id"]
    call(owner_api.post, f"/api/deployments/{pk}/start")
    response = owner_api.patch(
        f"/api/deployments/{pk}",
        {"secret_values": {"agent_runtime": {"env.API_KEY": SECRET}}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert call(owner_api.post, f"/api/deployments/{pk}/apply", {}).status_code == 200
    deployment = owner_api.get(f"/api/deployments/{pk}").json()
    assert deployment["status"] == "running", deployment
    assert deployment["live_revision"] == 2, deployment
    return deployment


def test_it_hands_the_secret_to_helm(with_secret, sandbox):
    assert agent_env(sandbox.standin, with_secret["namespace"])["API_KEY"] == SECRET


def test_it_stores_the_secret_only_encrypted(with_secret):
    everything = _database_text()
    assert SECRET not in everything
    assert SECRET.encode().hex() not in everything
    assert "budportal-sealed:v1:" in str(
        DeploymentRevision.objects.get(deployment_id=with_secret["id"], number=2).value_overrides
    )


def test_it_never_logs_the_secret(with_secret, caplog):
    records = caplog.get_records("setup")
    assert len(records) > 10
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)
    assert "helm" in text.lower()
    assert SECRET not in text


def test_it_never_answers_the_secret_and_a_rotation_shows_only_that_it_changed(
    with_secret, owner_api, owner, call, sandbox
):
    pk = with_secret["id"]
    owner_api.patch(
        f"/api/deployments/{pk}",
        {"secret_values": {"agent_runtime": {"env.API_KEY": ROTATED}}},
        content_type="application/json",
    )
    plan = owner_api.get(f"/api/deployments/{pk}/plan?revision=draft").json()
    agent = next(c for c in plan["components"] if c["name"] == "agent_runtime")
    assert agent["action"] == "upgrade"
    assert "<secret #" in agent["values_diff"]
    assert any(o["object"] == "Deployment/my-rag-agent-runtime" for o in agent["manifest"]["objects"])
    browser = Client()
    browser.force_login(owner)
    answers = [
        owner_api.get(path)
        for path in (
            f"/api/deployments/{pk}",
            f"/api/deployments/{pk}/revisions",
            f"/api/deployments/{pk}/revisions/2",
            f"/api/deployments/{pk}/revisions/3",
            f"/api/deployments/{pk}/plan?revision=draft",
            f"/api/deployments/{pk}/plan?revision=2",
            f"/api/executions/{with_secret['pipeline_execution_id']}",
            "/api/jobs",
            "/api/events",
        )
    ] + [
        browser.get(path)
        for path in (f"/deployments/{pk}/", f"/deployments/{pk}/edit", f"/deployments/{pk}/plan?revision=draft")
    ]
    assert [a.status_code for a in answers] == [200] * len(answers)
    for answer in answers:
        assert SECRET.encode() not in answer.content
        assert ROTATED.encode() not in answer.content

    call(owner_api.post, f"/api/deployments/{pk}/apply", {})
    assert agent_env(sandbox.standin, with_secret["namespace"])["API_KEY"] == ROTATED
    assert ROTATED not in _database_text()


def test_sending_the_masked_values_back_keeps_the_secret(with_secret, owner_api, call, sandbox):
    pk = with_secret["id"]
    shown = owner_api.get(f"/api/deployments/{pk}").json()["value_overrides"]["agent_runtime"]
    assert shown["env"]["API_KEY"].startswith("<secret #")
    response = owner_api.patch(
        f"/api/deployments/{pk}",
        {"values": {"agent_runtime": {**shown, "log_level": "debug"}}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    call(owner_api.post, f"/api/deployments/{pk}/apply", {})
    env = agent_env(sandbox.standin, with_secret["namespace"])
    assert env["API_KEY"] == SECRET


def test_a_secret_refused_by_the_schema_is_not_echoed(with_secret, owner_api):
    before = everything()
    response = owner_api.patch(
        f"/api/deployments/{with_secret['id']}",
        {"secret_values": {"vector_db": {"replicaCount": "not-a-number-secret"}}},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert ["values", "vector_db", "replicaCount"] in [e["loc"] for e in response.json()["detail"]]
    assert b"not-a-number-secret" not in response.content
    assert everything() == before  # nor stored
