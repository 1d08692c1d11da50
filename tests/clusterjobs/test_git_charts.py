"""Charts from a ref of a git repository, served by a real ``git daemon`` on 127.0.0.1."""

import tarfile

import pytest

from budportal.errors import ServiceValidationError
from clusterjobs.charts.fetch import ChartFetchError
from clusterjobs.charts.git import fetch_git
from clusterjobs.models import Job, JobStatus
from clusterjobs.validators import validate_chart_ref
from tests.clusterjobs.chart_servers import git_daemon

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


@pytest.fixture(autouse=True)
def git_protocol(settings):
    settings.CHART_ALLOW_GIT_PROTOCOL = True  # the local git daemon speaks only git://


def test_it_refuses_git_protocol_refs_unless_the_setting_allows_them(settings):
    settings.CHART_ALLOW_GIT_PROTOCOL = False

    assert "git+https://" in validate_chart_ref("git://charts.example.com/repo.git//demo")
    assert validate_chart_ref("git+https://charts.example.com/repo.git//demo") is None


@pytest.fixture
def git_repo(tmp_path):
    with git_daemon(tmp_path / "git") as url:
        yield url


@pytest.mark.parametrize(("git_ref", "version"), [("v1.0", "0.1.0"), ("main", "0.2.0")])
def test_it_deploys_a_chart_from_a_ref_of_a_git_repository(sandbox, run_job, git_repo, git_ref, version):
    job = run_job(
        sandbox,
        chart_ref=f"{git_repo}//charts/demo",
        chart_version=git_ref,
        release_name="web",
        namespace=NS,
        values={"port": 9400},
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["chart_version"] == version
    assert job.result["endpoint_url"] == f"http://web.{NS}.svc.cluster.local:9400"
    assert sandbox.standin.get("Deployment", NS, "web") is not None


def test_it_fails_for_a_ref_the_repository_lacks_and_leaves_nothing(sandbox, run_job, git_repo):
    job = run_job(sandbox, chart_ref=f"{git_repo}//charts/demo", chart_version="v9.9", release_name="web", namespace=NS)

    assert job.status == JobStatus.FAILED
    assert "git:" in job.error
    assert "v9.9" in job.error
    assert sandbox.standin.get("Namespace", None, NS) is None


def test_it_never_follows_a_symlink_in_the_repository_to_the_portals_files(git_repo, tmp_path):
    fetched = fetch_git(f"{git_repo}//charts/demo", "v1.0", auth=None, workdir=tmp_path)

    with tarfile.open(fetched.path) as archive:
        names = archive.getnames()
        leak = archive.extractfile("demo/leak.txt").read() if "demo/leak.txt" in names else b""
    assert "demo/Chart.yaml" in names
    assert leak in (b"", b"/etc/hostname")  # the link's text at most, never the file it names
    assert not (tmp_path / "git" / ".git" / "hooks" / "post-checkout").exists()


def test_it_stops_a_fetch_that_outgrows_the_size_bound(git_repo, tmp_path, settings):
    settings.GIT_CHART_MAX_BYTES = 2_000

    with pytest.raises(ChartFetchError, match="larger than 2000 bytes"):
        fetch_git(f"{git_repo}//charts/demo", "main", auth=None, workdir=tmp_path)


def test_it_refuses_a_git_host_outside_the_allowed_networks(sandbox, run_job, git_repo, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    with pytest.raises(ServiceValidationError, match="loopback"):
        run_job(sandbox, chart_ref=f"{git_repo}//charts/demo", chart_version="main", release_name="web", namespace=NS)

    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "ref",
    [
        "file:///srv/repo.git//charts/demo",
        "git+file:///srv/repo.git//charts/demo",
        "/srv/repo.git//charts/demo",
        "git+ssh://host/repo.git//charts/demo",
        "git+https://host/repo.git//../../etc",
        "git://host/repo.git//-c",
        "ext::sh -c id",
    ],
)
def test_it_refuses_local_and_other_protocol_git_refs(ref):
    assert validate_chart_ref(ref) is not None
