"""Cluster health over real HTTP and HTTPS: a tiny API server with a self-signed CA, started per test."""

import base64
import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clusterjobs import services
from clusterjobs.health import check_health
from tests.clusterjobs.conftest import SECRET_TOKEN, make_kubeconfig


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_pem


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
    ca_pem = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeApiServer.ready = True
    yield f"https://127.0.0.1:{server.server_address[1]}", ca_pem
    server.shutdown()
    server.server_close()


def _with_ca(url, ca_pem, token=SECRET_TOKEN):
    return make_kubeconfig(server=url, token=token,
                           **{"certificate-authority-data": base64.b64encode(ca_pem).decode()})


def test_it_reports_version_and_latency_of_a_healthy_cluster(api_server):
    url, ca_pem = api_server

    health = check_health(_with_ca(url, ca_pem))

    assert health["healthy"] is True, health
    assert health["server_version"] == "v1.31.2" and health["error"] is None and health["latency_ms"] > 0


def test_it_reports_a_tls_failure_when_the_ca_is_not_trusted(api_server):
    url, _ = api_server

    health = check_health(make_kubeconfig(server=url))

    assert health["healthy"] is False and "TLS verification" in health["error"]
    assert SECRET_TOKEN not in str(health)


def test_it_reports_rejected_credentials(api_server):
    url, ca_pem = api_server

    health = check_health(_with_ca(url, ca_pem, token="wrong-token-123456"))

    assert health["healthy"] is False and "credentials" in health["error"] and "401" in health["error"]


def test_it_reports_an_api_server_that_is_not_ready(api_server):
    url, ca_pem = api_server
    FakeApiServer.ready = False

    health = check_health(_with_ca(url, ca_pem))

    assert health["healthy"] is False and health["server_version"] == "v1.31.2"
    assert "/readyz answered HTTP 500" in health["error"]


def test_it_reports_a_bad_stored_kubeconfig_clearly():
    health = check_health("current-context: [")

    assert health["healthy"] is False and health["error"].startswith("bad kubeconfig: ")


def test_it_answers_health_through_the_api_for_the_sandbox(owner_api, owner, kube_standin):
    cluster = services.cluster_create(owner=owner, name="sb", kubeconfig=kube_standin.kubeconfig())

    body = owner_api.get(f"/api/clusters/{cluster.pk}/health").json()

    assert body["healthy"] is True and body["server_version"].startswith("v1.")


pytestmark = pytest.mark.django_db
