"""BudPipeline API parity: DAG validation without running, one action's metadata (typed outputs, icon,
permissions), the set_output ``outputs`` alias and the utility actions conditional, transform, aggregate
and wait_until (non-blocking: it re-schedules instead of sleeping)."""

from __future__ import annotations

import ast
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from django_q.models import Schedule

from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult
from pipelines.actions.registry import _registry, register
from pipelines.models import PipelineExecution, StepExecution
from tests.pipelines.conftest import dag, statuses, step

pytestmark = pytest.mark.django_db


def steps_of(execution: PipelineExecution) -> dict[str, StepExecution]:
    return {s.step_id: s for s in StepExecution.objects.filter(execution=execution)}


# --- POST /api/executions/validate ---------------------------------------------------------------------------


def test_validate_answers_valid_for_a_good_dag_and_stores_nothing(owner_api) -> None:
    body = dag(step("a"), step("b", depends_on=["a"]))
    response = owner_api.post("/api/executions/validate", body, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": []}
    wrapped = {"dag": body, "parameters": {"x": 1}}
    assert owner_api.post("/api/executions/validate", wrapped, content_type="application/json").json()["valid"]
    assert not PipelineExecution.objects.exists()
    assert not StepExecution.objects.exists()


def test_validate_lists_every_problem_with_its_path(owner_api, other_user) -> None:
    from clusterjobs.models import Cluster

    cycle = dag(step("a", depends_on=["b"]), step("b", depends_on=["a"]))
    body = owner_api.post("/api/executions/validate", cycle, content_type="application/json").json()
    assert body["valid"] is False
    assert any("cycle" in e["msg"] for e in body["errors"])
    unknown = dag(step("a", "no_such_action"), step("b", "transform", params={"data": 1, "expression": "os.system"}))
    body = owner_api.post("/api/executions/validate", unknown, content_type="application/json").json()
    assert [e["loc"][:2] for e in body["errors"]] == [["steps", 0], ["steps", 1]]
    theirs = Cluster.objects.create(owner=other_user, name="theirs", kubeconfig_encrypted=b"x")
    probe = dag(step("h", "cluster_health", params={"cluster_id": str(theirs.pk)}))
    body = owner_api.post("/api/executions/validate", probe, content_type="application/json").json()
    assert body["valid"] is False
    assert body["errors"][0]["loc"][:2] == ["steps", 0]
    assert owner_api.post("/api/executions/validate", [1], content_type="application/json").json()["valid"] is False
    assert not PipelineExecution.objects.exists()


# --- action metadata ---------------------------------------------------------------------------------------------


def test_one_action_type_has_typed_outputs_and_plan_metadata(owner_api) -> None:
    body = owner_api.get("/api/actions/cluster_health").json()
    assert body["type"] == "cluster_health"
    assert body["version"] == "1.0.0"
    assert body["icon"]
    assert body["color"].startswith("#")
    assert body["required_services"] == ["kubernetes"]
    assert body["params"][0]["type"] == "cluster_ref"
    assert {"name": "healthy", "type": "boolean", "description": ""} in body["output_definitions"]
    assert body["outputs"] == ["healthy", "server_version", "latency_ms"]
    listed = {a["type"]: a for a in owner_api.get("/api/actions").json()}
    assert listed["cluster_health"] == body
    assert {"conditional", "transform", "aggregate", "wait_until"} <= set(listed)
    assert listed["transform"]["params"][0]["type"] == "json"
    assert owner_api.get("/api/actions/no_such_action").status_code == 404


class NeedsPermission(Action):
    meta = ActionMeta(
        type="test_needs_permission",
        name="Needs a permission",
        description="",
        required_permissions=("clusterjobs.add_cluster",),
    )

    def execute(self, ctx: ActionContext) -> ActionResult:
        return ActionResult(success=True)


@pytest.fixture
def needs_permission() -> Iterator[None]:
    register(NeedsPermission)
    yield
    _registry.pop("test_needs_permission", None)


def test_an_actions_required_permission_is_checked_at_submit(
    needs_permission, other_api, owner_api, cluster_adder
) -> None:
    body = dag(step("p", "test_needs_permission", params={}))
    result = other_api.post("/api/executions/validate", body, content_type="application/json").json()
    assert result["valid"] is False
    assert "clusterjobs.add_cluster" in result["errors"][0]["msg"]
    assert other_api.post("/api/executions", body, content_type="application/json").status_code == 422
    assert not PipelineExecution.objects.exists()
    assert owner_api.post("/api/executions/validate", body, content_type="application/json").json()["valid"]


# --- set_output alias ------------------------------------------------------------------------------------------


def test_set_output_takes_outputs_as_an_alias_of_values(run) -> None:
    execution = run(
        dag(
            step("a", "set_output", params={"outputs": {"n": 2}}),
            step("b", "set_output", ["a"], params={"values": {"m": "{{ steps.a.outputs.n * 2 }}"}}),
        )
    )
    assert steps_of(execution)["b"].outputs == {"m": 4}
    both = dag(step("a", "set_output", params={"outputs": {"n": 1}, "values": {"n": 2}}))
    with pytest.raises(Exception, match="alias"):
        run(both)


# --- conditional / transform / aggregate -----------------------------------------------------------------------


def test_conditional_chooses_one_branch_and_skips_the_other(run) -> None:
    execution = run(
        dag(
            step("code", "set_output", params={"values": {"status": 503}}),
            step(
                "check",
                "conditional",
                ["code"],
                params={"condition": "{{ steps.code.outputs.status == 200 }}", "then": "up", "else": "down"},
            ),
            step("ok", "log", ["check"], condition="{{ steps.check.outputs.result }}"),
            step("alert", "log", ["check"], condition="{{ not steps.check.outputs.result }}"),
        )
    )
    s = steps_of(execution)
    assert s["check"].outputs == {"result": False, "branch": "else", "value": "down"}
    assert (s["ok"].status, s["alert"].status, execution.status) == ("SKIPPED", "COMPLETED", "COMPLETED")


def test_transform_applies_a_sandboxed_expression_to_data(run) -> None:
    items = {"items": [{"name": "qdrant", "ready": True}, {"name": "vllm", "ready": False}]}
    execution = run(
        dag(
            step("fetch", "set_output", params={"values": items}),
            step(
                "names",
                "transform",
                ["fetch"],
                params={
                    "data": "{{ steps.fetch.outputs['items'] }}",
                    "expression": "data | selectattr('ready') | map(attribute='name') | list",
                },
            ),
        )
    )
    assert steps_of(execution)["names"].outputs == {"result": ["qdrant"]}


def test_transform_refuses_an_escape_from_the_sandbox_and_fails_without_harm(run) -> None:
    execution = run(
        dag(step("t", "transform", params={"data": "x", "expression": "data.__class__.__mro__[1].__subclasses__()"}))
    )
    t = steps_of(execution)["t"]
    assert t.status == "FAILED"
    assert "unsafe" in t.error
    assert execution.status == "FAILED"


def test_aggregate_merges_the_outputs_of_several_steps(run) -> None:
    execution = run(
        dag(
            step("a", "set_output", params={"values": {"x": 1, "shared": "a"}}),
            step("b", "set_output", params={"values": {"y": 2, "shared": "b"}}),
            step("c", "log", condition=False),
            step("merged", "aggregate", ["a", "b", "c"], params={"steps": ["a", "b", "c"]}),
            step("per", "aggregate", ["a", "b"], params={"steps": ["a", "b"], "strategy": "by_step"}),
        )
    )
    s = steps_of(execution)
    assert s["merged"].outputs == {"result": {"x": 1, "y": 2, "shared": "b"}, "skipped": ["c"]}
    assert s["per"].outputs["result"] == {"a": {"x": 1, "shared": "a"}, "b": {"y": 2, "shared": "b"}}


def test_aggregate_fails_for_a_step_that_has_not_finished(run) -> None:
    execution = run(dag(step("m", "aggregate", params={"steps": ["a"]}), step("a", "log", ["m"])))
    s = steps_of(execution)
    assert s["m"].status == "FAILED"
    assert "not completed: a (add them to depends_on)" in s["m"].error
    assert s["a"].status == "CANCELLED"
    assert execution.status == "FAILED"


# --- wait_until ------------------------------------------------------------------------------------------------


@pytest.fixture
def flipping_server() -> Iterator[tuple[str, dict]]:
    """Answers 503 until state["ready"] is set, then 200 with JSON."""
    state = {"ready": False, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["hits"] += 1
            code = 200 if state["ready"] else 503
            body = json.dumps({"phase": "Ready" if state["ready"] else "Pending"}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/status", state
    httpd.shutdown()


def _kwargs(schedule: Schedule) -> dict:
    # django-q2 stores kwargs as text and reads them back with ast.literal_eval, as here.
    return ast.literal_eval(schedule.kwargs)


def run_due_schedules(django_capture_on_commit_callbacks) -> int:
    """What django-q2's scheduler does for the wait_until re-checks: run each ONCE schedule, then drop it."""
    from pipelines.actions.wait_until import tick

    due = list(Schedule.objects.filter(func="pipelines.actions.wait_until.tick"))
    for schedule in due:
        schedule.delete()
        with django_capture_on_commit_callbacks(execute=True):
            tick(**_kwargs(schedule))
    return len(due)


def test_wait_until_polls_without_holding_a_worker_and_completes(
    run, flipping_server, django_capture_on_commit_callbacks
) -> None:
    url, state = flipping_server
    condition = "response.status_code == 200 and response.json.phase == 'Ready'"
    params = {"url": url, "condition": condition, "interval_seconds": 5, "timeout_seconds": 600}
    execution = run(dag(step("wait", "wait_until", params=params), step("after", depends_on=["wait"])))
    # The first check failed: the step waits for an event and a re-check is scheduled ~5 s ahead (no sleep).
    assert statuses(execution) == {"wait": "AWAITING_EVENT", "after": "PENDING"}
    schedule = Schedule.objects.get(func="pipelines.actions.wait_until.tick")
    assert schedule.schedule_type == Schedule.ONCE
    assert 3 <= (schedule.next_run - timezone.now()).total_seconds() <= 6
    assert run_due_schedules(django_capture_on_commit_callbacks) == 1  # still 503: scheduled again
    assert statuses(execution)["wait"] == "AWAITING_EVENT"
    assert state["hits"] == 2
    state["ready"] = True
    assert run_due_schedules(django_capture_on_commit_callbacks) == 1
    execution.refresh_from_db()
    wait = steps_of(execution)["wait"]
    assert wait.status == "COMPLETED"
    assert wait.outputs["met"] is True
    assert wait.outputs["attempts"] == 3
    assert wait.outputs["response"]["json"] == {"phase": "Ready"}
    assert execution.status == "COMPLETED"
    assert not Schedule.objects.filter(func__contains="wait_until").exists()


def test_wait_until_fails_at_its_deadline(run, flipping_server, django_capture_on_commit_callbacks) -> None:
    url, _ = flipping_server
    params = {"url": url, "condition": "response.status_code == 200", "interval_seconds": 1, "timeout_seconds": 1}
    execution = run(dag(step("wait", "wait_until", params=params)))
    schedule = Schedule.objects.get(func="pipelines.actions.wait_until.tick")
    kwargs = _kwargs(schedule)
    kwargs["started_at"] -= 5  # as if the re-check came 5 s later
    Schedule.objects.filter(pk=schedule.pk).update(kwargs=kwargs)
    run_due_schedules(django_capture_on_commit_callbacks)
    execution.refresh_from_db()
    wait = steps_of(execution)["wait"]
    assert wait.status == "FAILED"
    assert "not met within 1s" in wait.error
    assert execution.status == "FAILED"


def test_wait_until_cancel_drops_the_pending_recheck(run, owner_api, django_capture_on_commit_callbacks) -> None:
    params = {"condition": "attempt > 5", "interval_seconds": 60}
    execution = run(dag(step("wait", "wait_until", params=params)))
    assert Schedule.objects.filter(func__contains="wait_until").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.post(f"/api/executions/{execution.pk}/cancel").status_code == 200
    assert not Schedule.objects.filter(func__contains="wait_until").exists()


def test_wait_until_refuses_bad_params_at_submit(owner_api) -> None:
    bad = dag(
        step("a", "wait_until", params={"condition": "{{ 1 }}"}),
        step("b", "wait_until", params={"condition": "secret_name == 1"}),
        step("c", "wait_until", params={"condition": "true", "interval_seconds": 0, "url": "file:///etc/passwd"}),
    )
    body = owner_api.post("/api/executions/validate", bad, content_type="application/json").json()
    found = {(e["loc"][1], e["loc"][-1]): e["msg"] for e in body["errors"]}
    assert "bare" in found[(0, "condition")]
    assert "secret_name" in found[(1, "condition")]
    assert {(2, "interval_seconds"), (2, "url")} <= set(found)
    assert not PipelineExecution.objects.exists()  # validating runs nothing
    assert not Schedule.objects.filter(func__contains="wait_until").exists()
