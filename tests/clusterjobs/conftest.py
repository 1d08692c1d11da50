"""Fixtures for the clusterjobs tests: kubeconfigs, clusters, and the test charts in tests/clusterjobs/charts."""

from __future__ import annotations

import contextlib
import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path

import pytest

from clusterjobs import services
from clusterjobs.helm.throwaway_tls import self_signed_pem

TEST_CHARTS = Path(__file__).parent / "charts"
SECRET_TOKEN = "kube-token-s3cr3t-0123456789abcdef"


def make_kubeconfig(server: str = "https://127.0.0.1:1", token: str = SECRET_TOKEN, **cluster_extra) -> str:
    extra = "".join(f"\n    {key}: {value}" for key, value in cluster_extra.items())
    return f"""apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {{cluster: dev-cluster, user: dev-user}}
clusters:
- name: dev-cluster
  cluster:
    server: {server}{extra}
users:
- name: dev-user
  user:
    token: {token}
"""


@pytest.fixture
def kubeconfig_text() -> str:
    return make_kubeconfig()


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return services.cluster_create(
        owner=owner, name="prod", kubeconfig=kubeconfig_text, ingress_url="https://apps.example.com"
    )


@pytest.fixture
def test_charts(settings, tmp_path) -> Path:
    """``charts/<name>`` resolves to the bundled charts plus the test charts (demo, privileged)."""
    charts = tmp_path / "charts"
    charts.mkdir()
    for source in (Path(settings.CHARTS_DIR), TEST_CHARTS):
        for chart in source.iterdir():
            if (chart / "Chart.yaml").is_file():
                (charts / chart.name).symlink_to(chart)
    settings.CHARTS_DIR = charts
    return charts


@pytest.fixture
def helm_settings(settings, helm_binary):
    """Jobs run the pinned real helm, with bundled charts and the test charts both reachable."""
    settings.HELM_BINARY = helm_binary
    return settings


@pytest.fixture
def sandbox(owner, kube_standin, helm_settings):
    """A cluster whose kubeconfig points at the Kubernetes API stand-in (a contract fake: nothing runs).

    Its token is replaced by ``SECRET_TOKEN`` so tests can check it never leaks."""
    kubeconfig = kube_standin.kubeconfig().replace("token: kube-standin", f"token: {SECRET_TOKEN}")
    cluster = services.cluster_create(owner=owner, name="sandbox", kubeconfig=kubeconfig)
    cluster.standin = kube_standin
    return cluster


@pytest.fixture
def run_job(django_capture_on_commit_callbacks):
    """Create and execute a job; the django-q2 task runs inline (sync) when the transaction commits."""

    def _run(cluster, *, job_type: str = "helm_deploy", timeout_seconds: int | None = None, **config):
        job = services.job_create(
            owner=cluster.owner,
            cluster=cluster,
            job_type=job_type,
            config=config,
            source="tests",
            source_id="src-1",
            timeout_seconds=timeout_seconds,
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.job_execute(job_id=job.pk)
        job.refresh_from_db()
        return job

    return _run


def self_signed(tmp_path: Path) -> bytes:
    """A self-signed CA certificate for 127.0.0.1 (``cert.pem`` / ``key.pem`` in ``tmp_path``); its PEM."""
    cert_pem, key_pem = self_signed_pem("budportal-test-ca", datetime.timedelta(hours=1))
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    return cert_pem


@contextlib.contextmanager
def serve_tls(server: HTTPServer, tmp_path: Path) -> Iterator[str]:
    """Serve ``server`` over TLS with the certificate ``self_signed`` wrote; yields its https:// URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
