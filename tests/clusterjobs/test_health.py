"""Cluster health over real HTTP and HTTPS: a tiny API server with a self-signed CA, started per test."""

import base64
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clusterjobs import services
from clusterjobs.health import check_health
from tests.clusterjobs.conftest import SECRET_TOKEN, make_kubeconfig, self_signed, serve_tls

pytestmark = pytest.mark.django_db


class FakeApiServer(BaseHTTPRequestHandler):
    ready = True
    seen_auth: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        FakeApiServer.seen_auth.append(self.headers.get("Authorization", ""))
        if self.headers.get("Authorization") != f"Bearer {SECRET_TOKEN}":
            return self._send(401, b'{"kind":"Status","code":401}')
        if self.path == "/version":
            return self._send(200, json.dumps({"gitVersion": "v1.31.2", "major": "1", "minor": "31"}).encode())
        if self.path == "/readyz":
            return self._send(200 if FakeApiServer.ready else 500, b"ok" if FakeApiServer.ready else b"etcd failed")
        return self._send(404, b"{}")

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api_server(tmp_path):
    """``(url, ca_pem)`` of an HTTPS API server on 127.0.0.1 with a self-signed certificate."""
    ca_pem = self_signed(tmp_path)
    FakeApiServer.ready = True
    with serve_tls(ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer), tmp_path) as url:
        yield url, ca_pem


def _with_ca(url, ca_pem, token=SECRET_TOKEN):
    return make_kubeconfig(server=url, token=token, **{"certificate-authority-data": base64.b64encode(ca_pem).decode()})


def test_it_reports_version_and_latency_of_a_healthy_cluster(api_server):
    url, ca_pem = api_server

    health = check_health(_with_ca(url, ca_pem))

    assert health["healthy"] is True, health
    assert health["server_version"] == "v1.31.2"
    assert health["error"] is None
    assert health["latency_ms"] > 0


def test_it_reports_a_tls_failure_when_the_ca_is_not_trusted(api_server):
    url, _ = api_server

    health = check_health(make_kubeconfig(server=url))

    assert health["healthy"] is False
    assert "TLS verification" in health["error"]
    assert SECRET_TOKEN not in str(health)


def test_it_reports_rejected_credentials(api_server):
    url, ca_pem = api_server

    health = check_health(_with_ca(url, ca_pem, token="wrong-token-123456"))

    assert health["healthy"] is False
    assert "credentials" in health["error"]
    assert "401" in health["error"]


def test_it_reports_an_api_server_that_is_not_ready(api_server):
    url, ca_pem = api_server
    FakeApiServer.ready = False

    health = check_health(_with_ca(url, ca_pem))

    assert health["healthy"] is False
    assert health["server_version"] == "v1.31.2"
    assert health["error"] == "/readyz answered HTTP 500 Internal Server Error"  # never the body


def test_it_reports_a_bad_stored_kubeconfig_clearly():
    health = check_health("current-context: [")

    assert health["healthy"] is False
    assert health["error"].startswith("bad kubeconfig: ")


def test_it_answers_health_through_the_api_for_the_sandbox(owner_api, owner, kube_standin):
    cluster = services.cluster_create(owner=owner, name="sb", kubeconfig=kube_standin.kubeconfig())

    body = owner_api.get(f"/api/clusters/{cluster.pk}/health").json()

    assert body["healthy"] is True
    assert body["server_version"].startswith("v1.")


def test_it_skips_verification_only_when_the_kubeconfig_says_so(api_server):
    url, _ = api_server

    health = check_health(make_kubeconfig(server=url, **{"insecure-skip-tls-verify": "true"}))

    assert health["healthy"] is True, health


def test_it_reports_a_ca_that_is_not_a_certificate(api_server):
    url, _ = api_server
    not_pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n").decode()

    health = check_health(make_kubeconfig(server=url, **{"certificate-authority-data": not_pem}))

    assert health["healthy"] is False
    assert "not a valid PEM certificate" in health["error"]
