"""Saved pipelines: a named DAG run on demand, on an interval schedule (django-q2 Schedule) or by its
webhook (secret shown once, stored hashed, rotatable, constant-time compared); paused/resumed; run history;
someone else's pipeline is a 404."""

from __future__ import annotations

import ast
from typing import Any

import pytest
from django.test import Client
from django_q.models import Schedule

from pipelines.models import PipelineExecution, SavedPipeline
from pipelines.saved import run_scheduled
from tests.dbstate import stored
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db

GREETING = dag(step("hello", params={"message": "hi {{ parameters.who }}"}), parameters={"who": "nobody"})


@pytest.fixture
def call(django_capture_on_commit_callbacks):
    def _call(client: Client, method: str, url: str, body: Any = None, **headers: str):
        with django_capture_on_commit_callbacks(execute=True):
            if body is None:
                return getattr(client, method)(url, headers=headers)
            return getattr(client, method)(url, body, content_type="application/json", headers=headers)

    return _call


@pytest.fixture
def created(owner_api, call) -> dict:
    body = {"name": "greet", "dag": GREETING, "parameters": {"who": "world"}, "schedule_minutes": 15}
    response = call(owner_api, "post", "/api/pipelines", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_the_secret_once_and_stores_only_its_hash(created, owner_api, owner) -> None:
    secret = created["webhook_secret"]
    pipeline = SavedPipeline.objects.get(pk=created["id"])
    assert pipeline.owner == owner
    assert len(secret) >= 32
    assert secret not in pipeline.webhook_secret_hash
    detail = owner_api.get(f"/api/pipelines/{pipeline.pk}").json()
    assert "webhook_secret" not in detail
    assert detail["schedule_minutes"] == 15
    assert secret not in str(owner_api.get("/api/pipelines").content)


def test_it_refuses_an_invalid_dag_a_bad_schedule_and_a_taken_name(owner_api, created, call) -> None:
    before = stored(SavedPipeline.objects.get(pk=created["id"]))
    response = call(owner_api, "post", "/api/pipelines", {"name": "bad", "dag": dag(step("a", "no_such"))})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["dag", "steps", 0]
    response = call(owner_api, "post", "/api/pipelines", {"name": "x", "dag": GREETING, "schedule_minutes": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["schedule_minutes"]
    response = call(owner_api, "post", "/api/pipelines", {"name": "../etc", "dag": GREETING})
    assert response.json()["detail"][0]["loc"] == ["name"]
    assert call(owner_api, "post", "/api/pipelines", {"name": "greet", "dag": GREETING}).status_code == 409
    response = call(owner_api, "patch", f"/api/pipelines/{created['id']}", {"webhook_secret_hash": "0" * 64})
    assert response.status_code == 422
    assert SavedPipeline.objects.count() == 1
    assert stored(SavedPipeline.objects.get(pk=created["id"])) == before  # the refused PATCH kept the secret's hash


def test_run_on_demand_links_the_execution_and_lists_it_in_the_history(owner_api, created, call) -> None:
    response = call(owner_api, "post", f"/api/pipelines/{created['id']}/run", {"parameters": {"who": "bob"}})
    assert response.status_code == 201
    assert response.json()["trigger"] == "manual"
    execution = PipelineExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.status == "COMPLETED"
    assert execution.steps.get().outputs == {"message": "hi bob"}
    assert str(execution.saved_pipeline_id) == created["id"]
    history = owner_api.get(f"/api/pipelines/{created['id']}/runs").json()
    assert [run["id"] for run in history] == [str(execution.pk)]
    assert SavedPipeline.objects.get(pk=created["id"]).last_run_at is not None


def test_the_interval_schedule_follows_pause_resume_and_delete(owner_api, created, call, owner) -> None:
    schedule = Schedule.objects.get(name=f"pipelines.saved:{created['id']}")
    assert (schedule.schedule_type, schedule.minutes, schedule.func) == (
        Schedule.MINUTES,
        15,
        "pipelines.saved.run_scheduled",
    )
    # What django-q2's scheduler does when it is due: call the function with the stored args.
    execution_id = run_scheduled(ast.literal_eval(schedule.args))
    execution = PipelineExecution.objects.get(pk=execution_id)
    assert execution.trigger == "schedule"
    assert execution.owner == owner
    assert call(owner_api, "post", f"/api/pipelines/{created['id']}/pause").json()["paused"] is True
    assert not Schedule.objects.filter(name=f"pipelines.saved:{created['id']}").exists()
    assert run_scheduled(created["id"]) is None  # a tick already queued when it was paused does nothing
    assert call(owner_api, "post", f"/api/pipelines/{created['id']}/resume").json()["paused"] is False
    assert Schedule.objects.filter(name=f"pipelines.saved:{created['id']}", minutes=15).exists()
    call(owner_api, "patch", f"/api/pipelines/{created['id']}", {"schedule_minutes": None})
    assert not Schedule.objects.filter(name=f"pipelines.saved:{created['id']}").exists()
    call(owner_api, "patch", f"/api/pipelines/{created['id']}", {"schedule_minutes": 60})
    assert call(owner_api, "delete", f"/api/pipelines/{created['id']}").status_code == 204
    assert not Schedule.objects.filter(name__startswith="pipelines.saved:").exists()
    assert PipelineExecution.objects.filter(pk=execution_id, saved_pipeline__isnull=True).exists()


def test_the_webhook_runs_as_the_owner_with_the_secret_only(created, call, owner, owner_api) -> None:
    anonymous = Client()
    url = f"/api/pipelines/{created['id']}/webhook"
    for bad in ("", "wrong", created["webhook_secret"][:-1]):
        assert call(anonymous, "post", url, {}, X_Pipeline_Secret=bad).status_code == 404
    assert call(anonymous, "post", "/api/pipelines/00000000-0000-0000-0000-000000000000/webhook").status_code == 404
    assert not PipelineExecution.objects.exists()
    response = call(
        anonymous, "post", url, {"parameters": {"who": "hook"}}, X_Pipeline_Secret=created["webhook_secret"]
    )
    assert response.status_code == 201
    assert response.json()["trigger"] == "webhook"
    execution = PipelineExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.owner == owner
    assert execution.steps.get().outputs == {"message": "hi hook"}
    # Rotating: the old secret stops working at once, the new one works.
    new_secret = call(owner_api, "post", f"/api/pipelines/{created['id']}/rotate-secret").json()["webhook_secret"]
    assert call(anonymous, "post", url, {}, X_Pipeline_Secret=created["webhook_secret"]).status_code == 404
    assert call(anonymous, "post", url, {}, X_Pipeline_Secret=new_secret).status_code == 201
    # Paused: the webhook answers as for an unknown pipeline.
    call(owner_api, "post", f"/api/pipelines/{created['id']}/pause")
    assert call(anonymous, "post", url, {}, X_Pipeline_Secret=new_secret).status_code == 404
    assert PipelineExecution.objects.count() == 2
    bad_body = call(owner_api, "post", f"/api/pipelines/{created['id']}/run", {"parameters": [1]})
    assert bad_body.status_code == 422
    assert bad_body.json()["detail"][0]["loc"] == ["parameters"]
    assert PipelineExecution.objects.count() == 2


def test_someone_elses_pipeline_is_a_404_everywhere(created, other_api, call, staff_api) -> None:
    base = f"/api/pipelines/{created['id']}"
    before = stored(SavedPipeline.objects.get(pk=created["id"]))
    schedules = list(Schedule.objects.values())
    assert other_api.get("/api/pipelines").json() == []
    for method, url in [
        ("get", base),
        ("patch", base),
        ("delete", base),
        ("post", f"{base}/run"),
        ("post", f"{base}/pause"),
        ("post", f"{base}/rotate-secret"),
        ("get", f"{base}/runs"),
    ]:
        response = call(other_api, method, url, {} if method in ("patch", "post") else None)
        assert response.status_code == 404, (method, url)
    assert SavedPipeline.objects.filter(pk=created["id"], paused=False).exists()
    assert stored(SavedPipeline.objects.get(pk=created["id"])) == before  # not renamed, not rotated
    assert list(Schedule.objects.values()) == schedules
    assert not PipelineExecution.objects.exists()
    assert staff_api.get(base).status_code == 200
