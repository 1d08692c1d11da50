"""Cluster health and job errors: what the server at a kubeconfig's URL says is never echoed back, whatever
listens there never causes a 500, and a traceback never shows a decrypted kubeconfig (not even with DEBUG on).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.views.debug import technical_500_response

from clusterjobs import services
from clusterjobs.models import Cluster, JobStatus
from clusterjobs.views import cluster_list
from tests.security.conftest import KUBECONFIG_TOKEN, kubeconfig

pytestmark = pytest.mark.django_db
INTERNAL_BODY = "internal-admin-panel-body-7f3a"


class ChattyServer(BaseHTTPRequestHandler):
    """Not an API server: /version answers HTML, /readyz a 500 with an internal page as its body."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/version":
            body, status = f"<html>{INTERNAL_BODY}</html>".encode(), 200
        else:
            body, status = f'{{"detail": "{INTERNAL_BODY}"}}'.encode(), 500
        self.send_response(status, f"Oops {INTERNAL_BODY}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ErrorPageServer(ChattyServer):
    """Answers every request with a 500 and an internal page (client-go quotes such bodies in its errors)."""

    def do_GET(self):
        body = f"<html>{INTERNAL_BODY}</html>".encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_GET


def _serve(handler) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def chatty_url() -> Iterator[str]:
    yield from _serve(ChattyServer)


@pytest.fixture
def not_http_url() -> Iterator[str]:
    """A TCP service that greets in its own protocol (like SSH or Redis) and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(f"SSH-2.0-OpenSSH_9.2 {INTERNAL_BODY}\r\n".encode())

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _health(api, owner, url: str) -> dict:
    cluster = services.cluster_create(owner=owner, name="c", kubeconfig=kubeconfig(server=url))
    response = api.get(f"/api/clusters/{cluster.pk}/health")
    assert response.status_code == 200
    return response.json()


def test_it_never_echoes_what_the_server_answered(owner_api, owner, chatty_url):
    health = _health(owner_api, owner, chatty_url)

    assert health["healthy"] is False
    assert health["error"] == "GET /version: the answer is not JSON; is " + chatty_url + " a Kubernetes API server?"
    assert INTERNAL_BODY not in str(health)


def test_it_reports_a_non_http_service_as_unreachable_not_a_500(owner_api, owner, not_http_url):
    health = _health(owner_api, owner, not_http_url)

    assert health["healthy"] is False
    assert health["error"] == f"API server {not_http_url} is unreachable: it did not answer HTTP"
    assert INTERNAL_BODY not in str(health)


def test_it_shows_the_health_badge_of_a_non_http_service_on_the_page(owner_browser, owner, not_http_url):
    cluster = services.cluster_create(owner=owner, name="c", kubeconfig=kubeconfig(server=not_http_url))

    response = owner_browser.get(f"/clusters/{cluster.pk}/health")

    assert response.status_code == 200
    assert "did not answer HTTP" in response.content.decode()


def test_the_debug_page_hides_the_kubeconfig_even_with_debug_on(owner, rf, settings, monkeypatch):
    """An error raised below a function that holds a decrypted kubeconfig: Django's technical 500 page (what
    DEBUG=true shows the browser) lists every frame's locals; the kubeconfig and its token are not among them."""
    settings.DEBUG = True
    cluster = services.cluster_create(owner=owner, name="c", kubeconfig=kubeconfig())

    def explode(text, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(services, "check_health", explode)
    try:
        services.cluster_health(cluster=cluster)
    except RuntimeError:
        page = technical_500_response(rf.get("/api/clusters/x/health"), *sys.exc_info()).content.decode()
    assert "cluster_health" in page
    assert "explode" in page
    assert KUBECONFIG_TOKEN not in page  # ...their kubeconfig is not


def test_the_debug_page_hides_a_posted_kubeconfig(cluster_adder, owner, rf, settings, monkeypatch):
    settings.DEBUG = True
    request = rf.post("/clusters/", {"name": "c", "kubeconfig": kubeconfig()})
    request.user = owner

    def explode(text):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(services, "parse_kubeconfig", explode)
    try:
        cluster_list(request)
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "explode" in page
    assert KUBECONFIG_TOKEN not in page
    assert not Cluster.objects.exists()


def test_a_failed_job_does_not_quote_what_the_server_answered(owner, helm_settings, run_job):
    server = _serve(ErrorPageServer)
    cluster = services.cluster_create(owner=owner, name="c", kubeconfig=kubeconfig(server=next(server)))
    try:
        job = run_job(cluster, chart_ref="charts/valkey", release_name="cache", namespace="uc-0a1b2c3d")
    finally:
        next(server, None)

    assert job.status == JobStatus.FAILED
    assert "an error on the server (answer not shown)" in job.error
    assert INTERNAL_BODY not in job.error
