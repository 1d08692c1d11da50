"""Chart sources against real servers: an OCI registry (docker-registry) and an HTTPS repository, both with
basic auth and a throwaway CA; owner-managed registry credentials; one fetch per install, then the cache."""

import pytest

from clusterjobs.models import ChartRegistry, JobStatus
from tests.clusterjobs.chart_servers import PASSWORD, USER, https_repository, oci_registry
from usecases.models import UseCaseTemplate

pytestmark = pytest.mark.django_db

NS, NS2 = "uc-0a1b2c3d", "uc-0a1b2c3e"


@pytest.fixture(autouse=True)
def chart_cache(settings, tmp_path):
    settings.CHART_CACHE_DIR = str(tmp_path / "chart-cache")
    return tmp_path / "chart-cache"


@pytest.fixture
def registry(tmp_path, helm_binary):
    with oci_registry(tmp_path / "oci", helm_binary) as server:
        yield server


@pytest.fixture
def repository(tmp_path, helm_binary):
    with https_repository(tmp_path / "https", helm_binary, ("0.1.0", "1.2.0", "1.2.7", "1.3.1", "2.0.0")) as server:
        yield server


def store_credentials(client, server, **overrides):
    body = {"host": server.host, "username": USER, "password": PASSWORD, "ca_pem": server.ca_pem, **overrides}
    return client.put("/api/registries", body, content_type="application/json")


def test_it_stores_registry_credentials_encrypted_and_never_returns_them(owner, owner_api, other_api, registry):
    response = store_credentials(owner_api, registry)

    assert response.status_code == 200, response.content
    assert PASSWORD not in response.content.decode()
    body = response.json()
    assert body["host"] == registry.host
    assert body["has_password"]
    assert body["has_ca"]
    stored = ChartRegistry.objects.get(owner=owner, host=registry.host)
    assert PASSWORD.encode() not in bytes(stored.password_encrypted)
    assert stored.password == PASSWORD
    assert PASSWORD not in owner_api.get("/api/registries").content.decode()
    assert other_api.get("/api/registries").json() == []
    assert other_api.delete(f"/api/registries/{stored.pk}").status_code == 404
    assert ChartRegistry.objects.filter(pk=stored.pk, username=USER).exists()
    assert store_credentials(owner_api, registry, username="renamed").status_code == 200  # replaces, per host
    assert ChartRegistry.objects.get(owner=owner).username == "renamed"
    assert owner_api.delete(f"/api/registries/{stored.pk}").status_code == 204
    assert not ChartRegistry.objects.exists()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"host": "https://x.example.com"}, "host"),
        ({"host": "a..b"}, "host"),
        ({"host": "x.example.com:99999"}, "host"),
        ({"host": "x.example.com", "ca_pem": "-----BEGIN CERTIFICATE-----\nnope\n"}, "ca_pem"),
    ],
)
def test_it_refuses_bad_registry_input_with_422(owner_api, body, loc):
    response = owner_api.put("/api/registries", body, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == loc
    assert not ChartRegistry.objects.exists()


def test_it_deploys_from_an_oci_registry_with_the_owners_credentials(owner_api, sandbox, run_job, registry):
    store_credentials(owner_api, registry)

    job = run_job(
        sandbox,
        chart_ref=f"oci://{registry.host}/charts/demo",
        chart_version="0.1.0",
        release_name="web",
        namespace=NS,
        values={"port": 9300},
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["chart_version"] == "0.1.0"
    assert len(job.result["chart_digest"]) == 64
    assert job.result["endpoint_url"] == f"http://web.{NS}.svc.cluster.local:9300"
    assert sandbox.standin.get("Deployment", NS, "web") is not None
    assert PASSWORD not in str(job.result)


def test_it_fails_an_oci_install_without_credentials_and_leaves_nothing(sandbox, run_job, registry, owner):
    ChartRegistry.objects.create(owner=owner, host=registry.host, ca_pem=registry.ca_pem)  # CA, no login

    job = run_job(
        sandbox, chart_ref=f"oci://{registry.host}/charts/demo", chart_version="0.1.0", release_name="web", namespace=NS
    )

    assert job.status == JobStatus.FAILED
    assert "unauthorized" in job.error.lower() or "401" in job.error
    assert sandbox.standin.get("Namespace", None, NS) is None


def test_it_does_not_use_another_users_registry_credentials(other_api, sandbox, run_job, registry):
    store_credentials(other_api, registry)

    job = run_job(
        sandbox, chart_ref=f"oci://{registry.host}/charts/demo", chart_version="0.1.0", release_name="web", namespace=NS
    )

    assert job.status == JobStatus.FAILED  # the CA and the login are the other user's, not the job owner's


def test_it_serves_the_same_oci_version_from_the_cache_once_pulled(
    owner_api, sandbox, run_job, registry, tmp_path, chart_cache
):
    store_credentials(owner_api, registry)
    ref = f"oci://{registry.host}/charts/demo"
    first = run_job(sandbox, chart_ref=ref, chart_version="0.2.0", release_name="web", namespace=NS)
    digest = first.result["chart_digest"]
    # The registry loses the archive (its manifest still names it): only the cache can serve a second install.
    for data in (tmp_path / "oci" / "data").rglob(f"{digest}/data"):
        data.unlink()

    second = run_job(sandbox, chart_ref=ref, chart_version="^0.2", release_name="web", namespace=NS2)

    assert first.status == JobStatus.COMPLETED, first.error
    assert second.status == JobStatus.COMPLETED, second.error
    assert second.result["chart_digest"] == digest
    assert second.result["chart_version"] == "0.2.0"
    assert (chart_cache / f"{digest}.tgz").is_file()
    assert sandbox.standin.get("Deployment", NS2, "web") is not None
    third = run_job(sandbox, chart_ref=ref, chart_version="0.2.0", release_name="web", namespace=NS2)
    (chart_cache / f"{digest}.tgz").unlink()
    fourth = run_job(sandbox, chart_ref=ref, chart_version="0.2.0", release_name="web2", namespace=NS2)
    assert third.status == JobStatus.COMPLETED
    assert fourth.status == JobStatus.FAILED


def test_it_resolves_a_semver_range_from_an_authenticated_https_repository(owner_api, sandbox, run_job, repository):
    store_credentials(owner_api, repository)

    job = run_job(
        sandbox,
        chart_ref=f"https://{repository.host}/charts/demo",
        chart_version="^1.2",
        release_name="web",
        namespace=NS,
    )

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["chart_version"] == "1.3.1"
    archives = [p for p in repository.requests if p.endswith(".tgz")]
    assert archives == ["/charts/demo-1.3.1.tgz"]  # fetched once for look-up, template and install


def test_it_fetches_an_https_chart_once_then_serves_it_from_the_cache(owner_api, sandbox, run_job, repository):
    store_credentials(owner_api, repository)
    ref = f"https://{repository.host}/charts/demo"

    first = run_job(sandbox, chart_ref=ref, chart_version="~1.2", release_name="web", namespace=NS)
    second = run_job(sandbox, chart_ref=ref, chart_version="1.2.7", release_name="web", namespace=NS2)

    assert (first.status, second.status) == (JobStatus.COMPLETED, JobStatus.COMPLETED), (first.error, second.error)
    assert first.result["chart_version"] == second.result["chart_version"] == "1.2.7"
    assert [p for p in repository.requests if p.endswith(".tgz")] == ["/charts/demo-1.2.7.tgz"]


def test_it_refuses_an_unknown_version_naming_the_versions_available(owner_api, sandbox, run_job, repository):
    store_credentials(owner_api, repository)

    job = run_job(
        sandbox,
        chart_ref=f"https://{repository.host}/charts/demo",
        chart_version="^3",
        release_name="web",
        namespace=NS,
    )

    assert job.status == JobStatus.FAILED
    assert "no version matching '^3'" in job.error
    assert "1.3.1" in job.error
    assert "2.0.0" in job.error


def test_it_does_not_trust_a_repository_ca_nobody_stored(sandbox, run_job, repository):
    job = run_job(sandbox, chart_ref=f"https://{repository.host}/charts/demo", release_name="web", namespace=NS)

    assert job.status == JobStatus.FAILED
    assert "certificate" in job.error.lower()
    assert not repository.requests


def helm_template(ref: str, version: str) -> dict:
    return {
        "name": "remote-chart",
        "display_name": "Remote chart",
        "components": [{"name": "app", "type": "helm", "chart": {"ref": ref, "version": version}}],
    }


@pytest.mark.parametrize("server", ["repository", "registry"])
def test_it_refuses_an_unknown_chart_version_at_save_naming_the_versions_available(owner_api, server, request):
    chart_server = request.getfixturevalue(server)
    store_credentials(owner_api, chart_server)
    scheme = "https" if server == "repository" else "oci"
    ref = f"{scheme}://{chart_server.host}/charts/demo"

    refused = owner_api.post("/api/templates", helm_template(ref, "^9"), content_type="application/json")
    accepted = owner_api.post("/api/templates", helm_template(ref, "^0.1"), content_type="application/json")

    assert refused.status_code == 422, refused.content
    error = refused.json()["detail"][0]
    assert error["loc"][-4:] == ["components", 0, "chart", "version"]
    assert "no version matching '^9'" in error["msg"]
    assert "0.1.0" in error["msg"]
    assert accepted.status_code == 201, accepted.content
    assert UseCaseTemplate.objects.filter(name="remote-chart").count() == 1


def test_it_refuses_at_save_a_version_it_cannot_check_without_the_owners_credentials(owner_api, repository):
    ref = f"https://{repository.host}/charts/demo"

    response = owner_api.post("/api/templates", helm_template(ref, "1.2.0"), content_type="application/json")

    assert response.status_code == 422
    assert "cannot check the version" in response.json()["detail"][0]["msg"]
    assert not UseCaseTemplate.objects.exists()
