"""The manual deployment checklist against the sandbox cluster: the Kubernetes API stand-in with the real,
pinned helm. Tasks run inline, so each request returns after its whole pipeline has run."""

from __future__ import annotations

from typing import Any

import pytest

from clusterjobs.models import Job
from pipelines.models import Event, ExecutionStatus, Notification, PipelineExecution, StepExecution
from tests.dbstate import everything
from tests.usecases.deployments.conftest import components
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db


def agent_env(standin, namespace: str) -> dict[str, Any]:
    agent = next(
        d for d in standin.objects("Deployment", namespace) if d["metadata"]["name"].startswith("my-rag-agent-runtime")
    )
    return {e["name"]: e.get("value") for e in agent["spec"]["template"]["spec"]["containers"][0]["env"]}


def release_records(standin, namespace: str, release: str) -> list[dict]:
    return standin.objects("Secret", namespace, label_selector=f"owner=helm,name={release}")


@pytest.fixture
def deployed(owner_api, create, call) -> dict:
    """agent-rag deployed on the sandbox, as the API shows it afterwards."""
    created = create()
    response = call(owner_api.post, f"/api/deployments/{created['id']}/start")
    assert response.status_code == 200, response.content
    return owner_api.get(f"/api/deployments/{created['id']}").json()


def test_it_deploys_agent_rag_and_reports_running_with_every_endpoint(deployed, sandbox):
    assert deployed["status"] == "running"
    assert deployed["error"] == ""
    by_name = {c["name"]: c for c in deployed["components"]}
    assert {n: c["status"] for n, c in by_name.items()} == {
        "vector_db": "running",
        "llm": "running",
        "agent_runtime": "running",
    }
    ns = deployed["namespace"]
    assert by_name["llm"]["endpoint_url"] == f"http://my-rag-llm-vllm.{ns}.svc.cluster.local:8000"
    assert by_name["vector_db"]["release_name"] == "my-rag-vector-db"
    assert all(c["job_id"] and c["completed_at"] for c in deployed["components"])
    names = {d["metadata"]["name"] for d in sandbox.standin.objects("Deployment", ns)}
    assert {"my-rag-llm-vllm", "my-rag-vector-db-qdrant", "my-rag-agent-runtime"} <= names


def test_it_injects_the_llm_endpoint_into_the_agent_runtime_deployment_env(deployed, sandbox):
    env = agent_env(sandbox.standin, deployed["namespace"])
    endpoints = {c["name"]: c["endpoint_url"] for c in deployed["components"]}
    assert env["LLM_ENDPOINT"] == endpoints["llm"]
    assert env["VECTORDB_ENDPOINT"] == endpoints["vector_db"]
    assert env["CHUNK_SIZE"] == "512"  # parameters.* rendered by the engine
    assert env["DEPLOYMENT_NAME"] == "my-rag"  # deployment.* too


def test_it_runs_vector_db_and_llm_in_one_wave_and_the_agent_only_after_both(deployed):
    execution = PipelineExecution.objects.get(pk=deployed["pipeline_execution_id"])
    deps = {s["id"]: s["depends_on"] for s in execution.dag["steps"]}
    assert deps["vector_db"] == deps["llm"] == ["cluster_health"]  # neither waits for the other
    assert sorted(deps["agent_runtime"]) == ["llm", "vector_db"]
    steps = {s.step_id: s for s in StepExecution.objects.filter(execution=execution)}
    agent_started = steps["agent_runtime"].started_at
    assert agent_started >= steps["llm"].completed_at
    assert agent_started >= steps["vector_db"].completed_at
    order = list(Event.objects.filter(execution=execution, topic="budusecasesEvents").values_list("type", "step_id"))
    assert order.index(("step_started", "agent_runtime")) > max(
        order.index(("step_completed", "llm")), order.index(("step_completed", "vector_db"))
    )


def test_it_updates_component_statuses_from_the_pipeline_events(deployed):
    execution_id = deployed["pipeline_execution_id"]
    for component in deployed["components"]:
        types = list(
            Event.objects.filter(execution_id=execution_id, step_id=component["name"]).values_list("type", flat=True)
        )
        assert types[:3] == ["step_started", "step_awaiting_event", "step_completed"]
        step = StepExecution.objects.get(execution_id=execution_id, step_id=component["name"])
        assert component["job_id"] == step.outputs["job_id"]  # came in through the listener


def test_it_notifies_the_owner_when_the_deployment_completes(deployed, owner):
    note = Notification.objects.get(user=owner)
    assert note.level == "success"
    assert "my-rag" in note.message


def test_it_reports_progress_from_the_execution(owner_api, deployed):
    progress = owner_api.get(f"/api/deployments/{deployed['id']}/progress").json()
    assert progress["percent"] == 100.0
    assert progress["eta_seconds"] == 0.0
    assert progress["current_steps"] == []
    assert {c["name"]: c["status"] for c in progress["components"]}["agent_runtime"] == "running"


def test_it_fails_the_deployment_with_the_failing_components_error_and_never_starts_dependents(
    owner_api, create, call, sandbox, settings, owner
):
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-llm")
    created = create()
    call(owner_api.post, f"/api/deployments/{created['id']}/start")

    body = owner_api.get(f"/api/deployments/{created['id']}").json()
    assert body["status"] == "failed"
    comps = components(created["id"])
    assert comps["llm"].status == "failed"
    assert "deadline" in comps["llm"].error
    assert body["error"] == f"step 'llm' FAILED: {comps['llm'].error}"
    assert body["completed_at"]
    assert comps["vector_db"].status == "running"
    agent = comps["agent_runtime"]
    assert agent.status == "stopped"
    assert agent.job_id == ""
    assert agent.started_at is None
    step = StepExecution.objects.get(execution_id=body["pipeline_execution_id"], step_id="agent_runtime")
    assert step.status == "CANCELLED"
    assert step.started_at is None
    assert not [
        d
        for d in sandbox.standin.objects("Deployment", body["namespace"])
        if d["metadata"]["name"].startswith("my-rag-agent")
    ]
    # The notification carries the one-line cause only, never Helm's raw output.
    note = Notification.objects.get(user=owner, level="error")
    assert note.message == (
        "Use case 'my-rag' failed: llm: Timed out after 3 s waiting for Deployment my-rag-llm-vllm to be ready "
        "(0/1 replicas)"
    )


def test_it_retries_a_failed_deployment_without_reinstalling_what_was_running(
    owner_api, create, call, sandbox, settings
):
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 3
    sandbox.standin.fail_release("my-rag-llm")
    created = create()
    call(owner_api.post, f"/api/deployments/{created['id']}/start")
    assert UseCaseDeployment.objects.get(pk=created["id"]).status == "failed"
    vector_job = components(created["id"])["vector_db"].job_id

    sandbox.standin.controllers.failing_releases.discard("my-rag-llm")
    settings.HELM_DEFAULT_TIMEOUT_SECONDS = 20
    response = call(owner_api.post, f"/api/deployments/{created['id']}/retry")
    assert response.status_code == 200, response.content

    body = owner_api.get(f"/api/deployments/{created['id']}").json()
    assert body["status"] == "running"
    assert body["error"] == ""
    assert {c["status"] for c in body["components"]} == {"running"}
    ns = body["namespace"]
    assert components(created["id"])["vector_db"].job_id == vector_job
    assert Job.objects.filter(config__release_name="my-rag-vector-db").count() == 1
    assert len(release_records(sandbox.standin, ns, "my-rag-vector-db")) == 1  # still revision 1
    assert agent_env(sandbox.standin, ns)["LLM_ENDPOINT"] == components(created["id"])["llm"].endpoint_url


def test_it_refuses_retry_unless_failed(owner_api, deployed):
    response = owner_api.post(f"/api/deployments/{deployed['id']}/retry")
    assert response.status_code == 409
    assert UseCaseDeployment.objects.get(pk=deployed["id"]).status == "running"


def test_it_stops_by_uninstalling_every_release_and_removing_the_namespace(owner_api, deployed, call, sandbox):
    ns = deployed["namespace"]
    assert sandbox.standin.objects("Deployment", ns)
    response = call(owner_api.post, f"/api/deployments/{deployed['id']}/stop")
    assert response.status_code == 200, response.content

    body = owner_api.get(f"/api/deployments/{deployed['id']}").json()
    assert body["status"] == "stopped"
    assert body["completed_at"]
    assert {c["status"] for c in body["components"]} == {"stopped"}
    assert sandbox.standin.objects("Deployment", ns) == []
    assert sandbox.standin.objects("Service", ns) == []
    assert sandbox.standin.get("Namespace", None, ns) is None
    cleanup = PipelineExecution.objects.get(pk=body["cleanup_execution_id"])
    assert cleanup.status == ExecutionStatus.COMPLETED  # the uninstall is recorded like any execution
    uninstall = StepExecution.objects.get(execution=cleanup)
    assert sorted(uninstall.params["releases"]) == ["my-rag-agent-runtime", "my-rag-llm", "my-rag-vector-db"]


def test_it_cancels_the_execution_when_stopping_a_deployment_still_deploying(owner_api, create, call, sandbox):
    created = create()
    with_callbacks_dropped = owner_api.post(f"/api/deployments/{created['id']}/start")  # steps queued, not run
    assert with_callbacks_dropped.json()["status"] == "deploying"
    response = call(owner_api.post, f"/api/deployments/{created['id']}/stop")
    assert response.status_code == 200

    deployment = UseCaseDeployment.objects.get(pk=created["id"])
    assert deployment.status == "stopped"
    assert PipelineExecution.objects.get(pk=deployment.pipeline_execution_id).status == ExecutionStatus.CANCELLED
    assert deployment.cleanup_execution_id == ""  # nothing was installed, so nothing to uninstall
    assert {c.status for c in deployment.components.all()} == {"stopped"}


def test_it_marks_the_deployment_failed_when_the_uninstall_fails(
    owner_api, deployed, call, sandbox, owner, monkeypatch
):
    monkeypatch.setattr("usecases.dag.CLEANUP_RETRY", {"max_attempts": 1})
    sandbox.standin.stop()  # the cluster is gone: helm uninstall cannot reach it
    call(owner_api.post, f"/api/deployments/{deployed['id']}/stop")

    deployment = UseCaseDeployment.objects.get(pk=deployed["id"])
    assert deployment.status == "failed"
    assert deployment.error.startswith("stop failed:")
    assert PipelineExecution.objects.get(pk=deployment.cleanup_execution_id).status == ExecutionStatus.FAILED
    assert Notification.objects.filter(user=owner, level="error").exists()
    before = everything()
    assert owner_api.post(f"/api/deployments/{deployed['id']}/retry").status_code == 409
    assert everything() == before  # a refused retry starts no execution and changes no status


def test_it_refuses_to_stop_a_pending_or_stopped_deployment(owner_api, create, deployed, call):
    pending = create(name="other")
    assert owner_api.post(f"/api/deployments/{pending['id']}/stop").status_code == 409
    call(owner_api.post, f"/api/deployments/{deployed['id']}/stop")
    before = everything()
    assert owner_api.post(f"/api/deployments/{deployed['id']}/stop").status_code == 409
    assert everything() == before
    assert UseCaseDeployment.objects.get(pk=pending["id"]).status == "pending"


def test_it_deletes_a_running_deployment_after_uninstalling_it(owner_api, deployed, call, sandbox):
    response = call(owner_api.delete, f"/api/deployments/{deployed['id']}")
    # Answered before the uninstall ran (202, deleting); the rows went when it finished.
    assert response.status_code == 202
    assert response.json()["status"] == "deleting"
    assert not UseCaseDeployment.objects.filter(pk=deployed["id"]).exists()
    assert sandbox.standin.objects("Deployment", deployed["namespace"]) == []
    assert owner_api.get(f"/api/deployments/{deployed['id']}").status_code == 404


def test_it_deletes_a_pending_deployment_at_once(owner_api, create):
    created = create()
    assert owner_api.delete(f"/api/deployments/{created['id']}").status_code == 204
    assert not UseCaseDeployment.objects.filter(pk=created["id"]).exists()


@pytest.fixture
def webhook():
    """A 127.0.0.1 HTTP server on an ephemeral port that records the JSON bodies POSTed to it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_it_posts_the_completion_to_the_deployments_webhook(owner_api, create, call, webhook):
    url, received = webhook
    created = create(notify_webhook_url=url)
    call(owner_api.post, f"/api/deployments/{created['id']}/start")
    assert UseCaseDeployment.objects.get(pk=created["id"]).status == "running"
    assert [body["level"] for body in received] == ["success"]
    assert "my-rag" in received[0]["message"]
