import pytest

from pipelines.models import Notification, PipelineExecution
from tests.dbstate import everything, stored
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db


@pytest.fixture
def submit(owner_api, django_capture_on_commit_callbacks):
    def _submit(body: dict, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or owner_api).post("/api/executions", body, content_type="application/json")

    return _submit


def test_it_submits_a_dag_and_runs_it(submit, owner):
    response = submit(dag(step("a"), step("b", depends_on=["a"])))
    assert response.status_code == 201
    execution = PipelineExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.owner == owner
    assert execution.status == "COMPLETED"


def test_it_accepts_dag_and_parameters_wrapped(submit):
    body = {"dag": dag(step("a", params={"message": "{{ parameters.who }}"})), "parameters": {"who": "world"}}
    response = submit(body)
    execution = PipelineExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.steps.get().outputs == {"message": "world"}


def test_it_answers_422_with_the_path_of_the_problem(submit):
    response = submit(dag(step("a"), step("b", depends_on=["a", "ghost"])))
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["steps", 1, "depends_on", 1], "msg": "unknown step 'ghost'"}]}
    assert PipelineExecution.objects.count() == 0


def test_it_scopes_executions_to_their_owner(submit, owner_api, other_api, staff_api):
    execution_id = submit(dag(step("a"))).json()["execution_id"]
    assert owner_api.get(f"/api/executions/{execution_id}").json()["steps"][0]["status"] == "COMPLETED"
    before = everything()
    assert other_api.get(f"/api/executions/{execution_id}").status_code == 404
    assert other_api.get(f"/api/executions/{execution_id}/progress").status_code == 404
    assert other_api.post(f"/api/executions/{execution_id}/cancel").status_code == 404
    assert everything() == before
    assert other_api.get("/api/executions").json()["items"] == []
    assert staff_api.get(f"/api/executions/{execution_id}").status_code == 200
    assert [e["id"] for e in owner_api.get("/api/executions").json()["items"]] == [execution_id]


def test_it_reports_progress_with_step_detail(submit, owner_api):
    execution_id = submit(dag(step("a"), step("b", "test_wait_for_job", ["a"], params={"job_id": "j1"}))).json()[
        "execution_id"
    ]
    body = owner_api.get(f"/api/executions/{execution_id}/progress?detail=steps").json()
    assert body["percent"] == 50.0
    assert body["current_steps"] == ["b"]
    assert body["status"] == "RUNNING"
    assert [(s["step_id"], s["status"]) for s in body["steps"]] == [("a", "COMPLETED"), ("b", "AWAITING_EVENT")]
    assert owner_api.get(f"/api/executions/{execution_id}/progress").json()["steps"] is None


def test_it_cancels_and_then_answers_409(submit, owner_api, django_capture_on_commit_callbacks):
    execution_id = submit(dag(step("w", "test_wait_for_job", params={"job_id": "j2"}))).json()["execution_id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post(f"/api/executions/{execution_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    assert PipelineExecution.objects.get(pk=execution_id).steps.get().status == "CANCELLED"
    before = everything()
    assert owner_api.post(f"/api/executions/{execution_id}/cancel").status_code == 409
    assert everything() == before  # no second cancelled event, no new completed_at


def test_it_lists_actions_with_params_and_outputs(owner_api):
    actions = {a["type"]: a for a in owner_api.get("/api/actions").json()}
    assert {"log", "set_output", "fail", "delay", "notification", "http_request"} <= set(actions)
    assert actions["log"]["outputs"] == ["message"]
    assert actions["log"]["execution_mode"] == "sync"
    assert actions["test_wait_for_job"]["execution_mode"] == "event_driven"
    assert {
        "name": "message",
        "type": "string",
        "required": True,
        "default": None,
        "description": "Text to log (Jinja allowed).",
    } in actions["log"]["params"]


def test_it_pages_the_event_log_of_my_executions_only(submit, owner_api, other_api):
    mine = submit(dag(step("a"))).json()["execution_id"]
    theirs = submit(dag(step("b")), client=other_api).json()["execution_id"]
    listed = owner_api.get("/api/events?page_size=100").json()
    events = listed["items"]
    assert listed["total"] == len(events)
    assert {e["execution_id"] for e in events} == {mine}
    assert [e["type"] for e in events][-1] == "execution_completed"
    after = owner_api.get(f"/api/events?after={events[1]['id']}&page_size=100").json()["items"]
    assert [e["id"] for e in after] == [e["id"] for e in events[2:]]
    assert owner_api.get(f"/api/events?execution={theirs}").json()["items"] == []
    assert owner_api.get("/api/events?page_size=1").json()["items"][0]["id"] == events[0]["id"]


def test_it_lists_and_marks_notifications_read(submit, owner_api, other_api, owner):
    submit(dag(step("n", "notification", params={"message": "Use case deployed", "level": "success"})))
    notes = owner_api.get("/api/notifications").json()["items"]
    assert [(n["message"], n["level"], n["read_at"]) for n in notes] == [("Use case deployed", "success", None)]
    unread = stored(Notification.objects.get(user=owner))
    assert other_api.post(f"/api/notifications/{notes[0]['id']}/read").status_code == 404
    assert stored(Notification.objects.get(user=owner)) == unread
    response = owner_api.post(f"/api/notifications/{notes[0]['id']}/read")
    assert response.status_code == 200
    assert response.json()["read_at"]
    assert Notification.objects.get(user=owner).read_at is not None
    assert owner_api.get("/api/notifications?unread=true").json()["items"] == []


def test_it_requires_authentication(client):
    assert client.get("/api/executions").status_code == 401


def test_it_accepts_a_bearer_token_post_without_csrf(owner, django_capture_on_commit_callbacks):
    from django.test import Client

    from budportal.models import ApiToken

    _, raw = ApiToken.issue(user=owner, name="cli")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/executions", dag(step("a")), content_type="application/json")
    assert response.status_code == 201
    assert PipelineExecution.objects.get(pk=response.json()["execution_id"]).owner == owner
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.post("/api/executions", dag(step("a")), content_type="application/json").status_code == 403
    assert PipelineExecution.objects.count() == 1  # the cookie-only post wrote nothing


def test_it_shows_deployment_events_to_the_owner_of_executions_of_that_deployment(
    owner, owner_api, other_api, django_capture_on_commit_callbacks
):
    import uuid

    from pipelines.events import publish
    from pipelines.services import execution_submit

    deployment_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        execution_submit(dag=dag(step("a")), owner=owner, deployment_id=deployment_id)
    event = publish("budusecasesEvents", "deployment_stopping", {"x": 1}, deployment_id=deployment_id)
    mine = owner_api.get(f"/api/events?deployment={deployment_id}").json()["items"]
    assert event.pk in [e["id"] for e in mine]
    assert all(e["deployment_id"] == str(deployment_id) for e in mine)
    assert other_api.get(f"/api/events?deployment={deployment_id}").json()["items"] == []
