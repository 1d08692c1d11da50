import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.models import Notification
from pipelines.validation import validate_dag
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db


class Recorder(BaseHTTPRequestHandler):
    """A tiny local server: /json answers JSON, /redirect-away redirects to another host, /flaky 500s once."""

    received: list = []
    flaky_left = 0

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path == "/json":
            self._answer(200, b'{"ok": true, "n": 2}', {"Content-Type": "application/json"})
        elif self.path == "/redirect-away":
            self._answer(302, headers={"Location": f"http://localhost:{port}/json"})
        elif self.path == "/redirect-same":
            self._answer(302, headers={"Location": "/json"})
        else:
            self._answer(404, b"nope")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Recorder.received.append((self.path, json.loads(body or b"{}")))
        if Recorder.flaky_left > 0:
            Recorder.flaky_left -= 1
            self._answer(500, b"try again")
        else:
            self._answer(204)


@pytest.fixture
def server():
    Recorder.received, Recorder.flaky_left = [], 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_request_returns_status_and_parsed_json(run, server):
    execution = run(
        dag(
            step("call", "http_request", params={"url": f"{server}/json"}),
            step("use", "log", ["call"], params={"message": "n={{ steps.call.outputs.json.n }}"}),
        )
    )
    assert execution.status == "COMPLETED"
    call, use = execution.steps.order_by("position")
    assert (call.outputs["status_code"], call.outputs["json"]) == (200, {"ok": True, "n": 2})
    assert use.outputs == {"message": "n=2"}


def test_http_request_follows_same_host_redirects_only(run, server):
    same = run(dag(step("s", "http_request", params={"url": f"{server}/redirect-same"})))
    assert same.status == "COMPLETED"
    assert same.steps.get().outputs["status_code"] == 200
    away = run(dag(step("a", "http_request", params={"url": f"{server}/redirect-away"})))
    assert away.status == "FAILED"
    assert "redirect to another host refused" in away.steps.get().error


def test_http_request_fails_on_error_status(run, server):
    execution = run(dag(step("c", "http_request", params={"url": f"{server}/missing"})))
    assert execution.steps.get().error.startswith("HTTP 404")


def test_http_request_refuses_other_schemes_at_submit():
    errors = validate_dag(dag(step("c", "http_request", params={"url": "file:///etc/passwd", "timeout_seconds": 600})))
    assert {tuple(e["loc"]) for e in errors} == {
        ("steps", 0, "params", "url"),
        ("steps", 0, "params", "timeout_seconds"),
    }


def test_notification_goes_to_the_owner_not_to_another_user(run, owner, other_user):
    execution = run(
        dag(
            step(
                "n",
                "notification",
                params={
                    "message": "Deployed",
                    "level": "success",
                    "user_id": str(other_user.pk),
                    "link": "/deployments/1",
                },
            )
        )
    )
    assert execution.status == "COMPLETED"
    note = Notification.objects.get()
    assert (note.user, note.message, note.level, note.link) == (owner, "Deployed", "success", "/deployments/1")
    assert execution.steps.get().outputs == {"notification_id": note.pk, "webhook_status": None}


def test_notification_from_staff_may_target_another_user(run, staff, other_user):
    run(dag(step("n", "notification", params={"message": "hi", "user_id": str(other_user.pk)})), user=staff)
    assert Notification.objects.get().user == other_user


def test_notification_webhook_is_retried_until_it_succeeds(run, server, settings):
    Recorder.flaky_left = 1
    execution = run(dag(step("n", "notification", params={"message": "Deployed", "webhook_url": f"{server}/hook"})))
    assert execution.status == "COMPLETED"
    assert execution.steps.get().outputs["webhook_status"] == 204
    assert [path for path, _ in Recorder.received] == ["/hook", "/hook"]
    assert Recorder.received[-1][1]["message"] == "Deployed"
    assert Recorder.received[-1][1]["step_id"] == "n"


def test_delay_waits_and_refuses_unbounded_values(run):
    execution = run(dag(step("d", "delay", params={"seconds": 0.05})))
    d = execution.steps.get()
    assert d.outputs == {"slept_seconds": 0.05}
    assert (d.completed_at - d.started_at).total_seconds() >= 0.05
    assert validate_dag(dag(step("d", "delay", params={"seconds": 10_000})))[0]["loc"] == [
        "steps",
        0,
        "params",
        "seconds",
    ]
