"""Server-side request forgery: URLs users give the portal never reach loopback, private or metadata addresses.

A real HTTP server listens on 127.0.0.1 and records what reaches it. ``tests/settings.py`` allows 127.0.0.0/8
for the other tests; here ``OUTBOUND_ALLOWED_NETWORKS`` is emptied (the production default), so every
request must be refused before it is sent, whatever spelling of the address the URL uses.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from django.test import override_settings

from clusterjobs import validators
from clusterjobs.helm.jobs import check_chart_host
from clusterjobs.models import Job, JobStatus
from pipelines import outbound
from pipelines.models import StepStatus
from pipelines.validation import validate_dag
from tests.dbstate import rows
from tests.pipelines.conftest import dag, step
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db
no_private = override_settings(OUTBOUND_ALLOWED_NETWORKS=[])


class Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[tuple[str, str, str]]] = []

    def log_message(self, *args):
        pass

    def _answer(self) -> None:
        Recorder.hits.append((self.command, self.path, self.headers.get("Host", "")))
        if self.path == "/redirect-loopback":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"secret": "internal-only-body"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def _serve(host: str) -> Iterator[int]:
    Recorder.hits = []
    httpd = ThreadingHTTPServer((host, 0), Recorder)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def port() -> Iterator[int]:
    yield from _serve("127.0.0.1")


# Every spelling of 127.0.0.1 a URL can carry; the Jinja wrapper keeps submit-time validation out of the way,
# so the refusal tested is the one made when the request is sent.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "2130706433",
    "0x7f.0.0.1",
    "017700000001",
    "127.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
]


@no_private
@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_it_refuses_http_request_steps_to_loopback_in_any_spelling(run, port, host):
    url = "{{ 'http://' }}" + f"{host}:{port}/secret"
    execution = run(dag(step("call", "http_request", params={"url": url})))

    call = execution.steps.get()
    assert call.status == StepStatus.FAILED
    assert "the portal does not connect to it" in call.error
    assert "internal-only-body" not in str(call.outputs) + call.error
    assert Recorder.hits == []


@no_private
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "[fd00:ec2::254]",
        "10.1.2.3",
        "100.64.0.1",
        "[::]",
        "0.0.0.0",
    ],
)
def test_it_refuses_literal_private_addresses_at_submit(host):
    errors = validate_dag(
        dag(
            step("c", "http_request", params={"url": f"http://{host}/x"}),
            step("n", "notification", params={"message": "m", "webhook_url": f"http://{host}/"}),
        )
    )
    assert [e["loc"][-1] for e in errors] == ["url", "webhook_url"]


@no_private
def test_it_refuses_a_notification_webhook_to_loopback_without_retrying(run, port):
    url = "{{ 'http://localhost' }}" + f":{port}/hook"
    execution = run(dag(step("n", "notification", params={"message": "done", "webhook_url": url})))

    notify = execution.steps.get()
    assert notify.status == StepStatus.FAILED
    assert "loopback" in notify.error
    assert Recorder.hits == []


@override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.2/32"])
def test_it_checks_every_redirect_hop():
    """127.0.0.2 is allowed, 127.0.0.1 is not: the guard's opener (even without the same-host redirect rule of
    the actions) refuses the redirect's hop, because every hop is a new connection through the guard."""
    server = _serve("127.0.0.2")
    port = next(server)
    try:
        request = urllib.request.Request(f"http://127.0.0.2:{port}/redirect-loopback")
        with pytest.raises(outbound.OutboundRefused, match="127.0.0.1 is a loopback address"):
            outbound.urlopen(outbound.build_opener(), request, timeout=5)
        assert [hit[1] for hit in Recorder.hits] == ["/redirect-loopback"]
    finally:
        next(server, None)


@override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.2/32"])
def test_it_connects_to_the_address_it_checked_not_to_a_second_dns_answer(run, monkeypatch):
    """DNS rebinding: the first answer is allowed, a second one would be loopback. The request is sent to the
    checked address (with the name in the Host header), and the name is looked up once per connection."""
    server = _serve("127.0.0.2")
    port = next(server)
    real = socket.getaddrinfo
    answers = iter(["127.0.0.2", "127.0.0.1", "127.0.0.1"])
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example" and not kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            lookups.append(host)
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        execution = run(dag(step("call", "http_request", params={"url": f"http://rebind.example:{port}/data"})))
        call = execution.steps.get()
        assert call.status == StepStatus.COMPLETED, call.error
        assert call.outputs["json"] == {"secret": "internal-only-body"}
        assert Recorder.hits == [("GET", "/data", f"rebind.example:{port}")]
        assert lookups == ["rebind.example"]
    finally:
        next(server, None)


def test_it_allows_what_the_admin_allows_and_public_addresses():
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["10.20.0.0/16"]):
        assert outbound.refusal("10.20.3.4") is None
        assert outbound.refusal("::ffff:10.20.3.4") is None
        assert outbound.refusal("10.21.0.1") == "private"
    with no_private:
        assert outbound.refusal("8.8.8.8") is None
        assert outbound.refusal("2606:4700::1111") is None
        for address, reason in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("2002:7f00:1::", "loopback"),
            ("64:ff9b::a00:1", "private"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.251", "multicast"),
            ("240.0.0.1", "reserved"),
            ("100.100.100.200", "reserved"),
        ]:
            assert outbound.refusal(address) == reason, address


# --- chart refs: helm fetches https:// and oci:// itself, so the host is checked before helm runs -----------
@no_private
@pytest.mark.parametrize(
    "ref",
    [
        "https://127.0.0.1:{open}/charts/demo",
        "https://127.0.0.1:{closed}/charts/demo",
        "oci://localhost:{open}/charts/demo",
        "https://2130706433:{open}/charts/demo",
    ],
)
def test_it_refuses_chart_refs_on_private_hosts_without_telling_open_from_closed_ports(port, ref):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    ref = ref.format(open=port, closed=closed_port)

    with pytest.raises(outbound.OutboundRefused) as refused:
        check_chart_host(ref)
    host = ref.split("://")[1].split(":")[0]
    assert str(refused.value) == f"{host} is a loopback address; the portal does not connect to it"
    assert Recorder.hits == []
    assert validators.chart_ref_kind(ref) is not None  # well-formed: refused for where it points, not syntax


def test_it_fails_a_job_whose_chart_repository_is_on_loopback_before_helm_fetches_it(sandbox, run_job, https_repo):
    with no_private:
        job = run_job(
            sandbox,
            chart_ref=f"{https_repo.replace('127.0.0.1', 'localhost')}/demo",
            release_name="web",
            namespace="uc-0a1b2c3d",
        )

    assert job.status == JobStatus.FAILED
    assert job.error == "chart ref refused: localhost is a loopback address; the portal does not connect to it"
    assert sandbox.standin.get("Namespace", None, "uc-0a1b2c3d") is None


@no_private
def test_it_refuses_a_job_whose_chart_ref_names_a_private_address(owner_api, owned):
    response = owner_api.post(
        "/api/jobs",
        {
            "job_type": "helm_deploy",
            "cluster_id": owned["cluster_id"],
            "config": {
                "chart_ref": "https://[::ffff:169.254.169.254]/charts/x",
                "release_name": "x",
                "namespace": "uc-0123abcd",
            },
        },
        content_type="application/json",
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-2:] == ["config", "chart_ref"]
    assert rows(Job) == {"clusterjobs.Job": [str(owned["_job"].pk)]}  # the owned fixture's job only


@no_private
def test_it_refuses_a_deployments_webhook_on_a_private_address(owner_api, owned, catalog):
    response = owner_api.post(
        "/api/deployments",
        {
            "name": "hooked",
            "template": "valkey-cache",
            "cluster_id": owned["cluster_id"],
            "notify_webhook_url": "http://169.254.169.254/latest/meta-data/",
        },
        content_type="application/json",
    )

    assert response.status_code == 422
    assert [e["loc"][-1] for e in response.json()["detail"]] == ["notify_webhook_url"]
    assert not UseCaseDeployment.objects.filter(name="hooked").exists()


def test_it_verifies_tls_against_the_name_while_connecting_to_the_checked_address(tmp_path, monkeypatch):
    """The connection is pinned to the IP, but TLS still checks the certificate against the URL's host: a
    certificate for 127.0.0.1 is accepted for https://127.0.0.1 and refused for https://localhost."""
    from http.server import SimpleHTTPRequestHandler

    from tests.clusterjobs.conftest import self_signed, serve_tls

    self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    with serve_tls(ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler), tmp_path) as url:
        opener = outbound.build_opener()
        with outbound.urlopen(opener, urllib.request.Request(url + "/"), timeout=5) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.URLError, match="certificate verify failed"):
            outbound.urlopen(opener, urllib.request.Request(url.replace("127.0.0.1", "localhost") + "/"), timeout=5)


@no_private
def test_it_keeps_pipeline_steps_away_from_a_sandbox_clusters_api(run, kube_standin, other_user):
    """Another user's sandbox (the stand-in on 127.0.0.1): listing its secrets and writing into kube-system."""
    base = "{{ '" + kube_standin.url + "' }}"
    auth = {"Authorization": "Bearer kube-standin"}
    read = run(
        dag(step("read", "http_request", params={"url": base + "/api/v1/secrets", "headers": auth})), user=other_user
    ).steps.get()
    write = run(
        dag(
            step(
                "write",
                "http_request",
                params={
                    "url": base + "/api/v1/namespaces/kube-system/configmaps",
                    "method": "POST",
                    "headers": auth,
                    "body": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "pwned"},
                        "data": {"a": "b"},
                    },
                },
            )
        ),
        user=other_user,
    ).steps.get()

    assert (read.status, write.status) == (StepStatus.FAILED, StepStatus.FAILED)
    assert "loopback address" in read.error
    assert "loopback address" in write.error
    assert kube_standin.get("ConfigMap", "kube-system", "pwned") is None
