"""``https://`` chart refs: a real Helm repository (index.yaml + packaged charts) served over TLS on 127.0.0.1."""

import functools
import subprocess
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clusterjobs.models import JobStatus
from tests.clusterjobs.conftest import TEST_CHARTS, self_signed, serve_tls

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def https_repo(tmp_path, helm_binary, monkeypatch):
    """``https://127.0.0.1:<port>/charts`` serving ``demo`` 0.1.0 and 0.2.0; helm trusts its CA."""
    repo = tmp_path / "www" / "charts"
    repo.mkdir(parents=True)
    for version in ("0.1.0", "0.2.0"):
        subprocess.run(
            [helm_binary, "package", str(TEST_CHARTS / "demo"), "--version", version, "-d", str(repo)],
            check=True,
            capture_output=True,
        )
    subprocess.run([helm_binary, "repo", "index", str(repo)], check=True, capture_output=True)
    self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # Go's TLS honours it: helm trusts our CA
    handler = functools.partial(QuietHandler, directory=str(tmp_path / "www"))
    with serve_tls(ThreadingHTTPServer(("127.0.0.1", 0), handler), tmp_path) as url:
        yield f"{url}/charts"


def test_it_installs_a_chart_from_an_https_repository_with_a_version_constraint(sandbox, run_job, https_repo):
    job = run_job(
        sandbox,
        chart_ref=f"{https_repo}/demo",
        chart_version="<0.2.0",
        release_name="web",
        namespace=NS,
        values={"port": 9200},
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["chart_version"] == "0.1.0"
    assert job.result["endpoint_url"] == f"http://web.{NS}.svc.cluster.local:9200"
    assert sandbox.standin.get("Deployment", NS, "web") is not None


def test_it_takes_the_newest_version_without_a_constraint(sandbox, run_job, https_repo):
    job = run_job(sandbox, chart_ref=f"{https_repo}/demo", release_name="web", namespace=NS)

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["chart_version"] == "0.2.0"


def test_it_fails_with_helms_message_for_a_chart_the_repository_lacks(sandbox, run_job, https_repo):
    job = run_job(sandbox, chart_ref=f"{https_repo}/nope", release_name="web", namespace=NS)

    assert job.status == JobStatus.FAILED
    assert "nope" in job.error
    assert "not found" in job.error
    assert sandbox.standin.get("Namespace", None, NS) is None
