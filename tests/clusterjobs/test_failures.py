"""Every class of Helm failure, produced for real (helm 3 and 4 + the policy proxy + the Kubernetes API stand-in, a
contract fake), maps to its one-line cause; the raw text is kept whole for the folded details."""

import pytest

from clusterjobs import services
from clusterjobs.failures import FailureKind, explain
from clusterjobs.models import JobStatus
from clusterjobs.standin.discovery import resource_for_kind
from clusterjobs.standin.switches import Refusal, auth_refusal, quota_refusal
from tests.clusterjobs.conftest import make_kubeconfig

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


@pytest.fixture(params=["helm3", "helm4"])
def helm_settings(request, settings):
    """Every failure class with Helm 3.17 and with Helm 4.1: their wording differs."""
    settings.HELM_BINARY = request.getfixturevalue("helm_binary" if request.param == "helm3" else "helm4_binary")
    return settings


def failed(job):
    assert job.status in (JobStatus.FAILED, JobStatus.TIMEOUT), job.result
    failure = explain(job.error)
    assert failure.raw == job.error.strip()
    assert "\n" not in failure.cause
    return failure


def test_it_explains_values_the_charts_schema_rejects(sandbox, run_job):
    job = run_job(sandbox, chart_ref="charts/vllm", release_name="llm", namespace=NS, values={"replicaCount": "many"})

    failure = failed(job)
    assert failure.kind == FailureKind.SCHEMA
    assert failure.cause == "Chart values rejected by the chart's schema: replicaCount: must be integer (got string)"


def test_it_explains_a_release_that_never_became_ready_and_names_what_it_waited_for(
    sandbox, run_job, test_charts, settings
):
    sandbox.standin.fail_release("web")

    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, timeout="3s")

    failure = explain(job.error, timeout_seconds=3)
    assert failure.kind == FailureKind.TIMEOUT
    if "helm4" in settings.HELM_BINARY:  # Helm 4 waits through a watch the policy proxy relays unread
        assert failure.cause == "Timed out after 3 s waiting for the release to be ready"
    else:  # what Helm 3's polls last read through the policy proxy
        assert failure.cause == "Timed out after 3 s waiting for Deployment web to be ready (0/1 replicas)"


def test_it_explains_a_job_that_ran_out_of_its_own_time(sandbox, run_job, test_charts, settings):
    sandbox.standin.set_controllers(False)

    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, timeout_seconds=2)

    failure = failed(job)
    assert failure.kind == FailureKind.TIMEOUT
    if "helm4" in settings.HELM_BINARY:
        assert failure.cause == "Timed out after 2 s waiting for the release to be ready"
    else:
        assert failure.cause == (
            "Timed out after 2 s waiting for Deployment web to be ready "
            "(0/1 replicas; its controller has not seen the new spec yet)"
        )


def test_it_explains_a_quota_refusal(sandbox, run_job, test_charts):
    sandbox.standin.refuse(quota_refusal())

    failure = failed(run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS))

    assert failure.kind == FailureKind.QUOTA
    assert failure.cause.startswith("Cluster quota exceeded: compute-resources, requested: limits.cpu=4")


def test_it_explains_refused_credentials(sandbox, run_job, test_charts):
    sandbox.standin.refuse(auth_refusal())

    failure = failed(run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS))

    assert failure.kind == FailureKind.AUTH
    assert failure.cause.startswith("Cluster refused the credentials")


def test_it_explains_an_unreachable_cluster_with_the_reason(owner, run_job, helm_settings, test_charts):
    dead = services.cluster_create(owner=owner, name="dead", kubeconfig=make_kubeconfig(server="http://127.0.0.1:9"))

    failure = failed(run_job(dead, chart_ref="charts/demo", release_name="web", namespace=NS))

    assert (failure.kind, failure.cause) == (FailureKind.UNREACHABLE, "Cluster API unreachable: connection refused")


def test_it_explains_what_the_policy_proxy_refused(sandbox, run_job, test_charts):
    values = {"lookupSecret": {"namespace": "kube-system", "name": "x"}}

    failure = failed(run_job(sandbox, chart_ref="charts/objects", release_name="p", namespace=NS, values=values))

    assert failure.kind == FailureKind.POLICY
    assert failure.cause == (
        "Refused by the cluster policy: Secret kube-system/x is outside the deployment's namespace " + NS
    )


def test_it_explains_manifests_the_policy_refuses_before_installing(sandbox, run_job, test_charts):
    failure = failed(run_job(sandbox, chart_ref="charts/privileged", release_name="pv", namespace=NS))

    assert failure.kind == FailureKind.POLICY
    assert failure.cause.startswith("Refused by the cluster policy: DaemonSet/pv-agent: spec.template.spec.hostNetwork")
    assert failure.cause.endswith("(and 2 more)")


def test_it_explains_an_object_that_belongs_to_no_release(sandbox, run_job, test_charts):
    sandbox.standin.store.create(resource_for_kind("Namespace"), "", {"metadata": {"name": NS}})
    sandbox.standin.store.create(resource_for_kind("Service"), NS, {"metadata": {"name": "web"}, "spec": {}})

    failure = failed(run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS))

    assert failure.kind == FailureKind.CONFLICT
    assert failure.cause == f"Conflict: Service web already exists in namespace {NS} and belongs to no release of it"


def test_it_explains_a_missing_object(sandbox, run_job, test_charts):
    sandbox.standin.refuse(Refusal(404, "NotFound", f'namespaces "{NS}" not found', methods=("POST",), kind="Secret"))

    failure = failed(run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS))

    assert failure.kind == FailureKind.NOT_FOUND
    assert 'namespaces "uc-0a1b2c3d" not found' in failure.cause


def test_it_keeps_client_go_noise_out_of_the_cause():
    noise = 'E1130 10:38:21.123456   4242 memcache.go:287] "Unhandled Error" err="couldn\'t get resource list"\n'
    text = (
        noise * 20 + 'Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": dial tcp: connection refused'
    )

    failure = explain(text)

    assert failure.cause == "Cluster API unreachable: connection refused"
    assert failure.raw.count("memcache.go") == 20
    assert failure.has_details


def test_it_keeps_the_first_line_of_an_error_it_does_not_know():
    failure = explain("chart ref refused: 10.0.0.1 is a private address\nmore")

    assert (failure.kind, failure.cause) == (FailureKind.OTHER, "chart ref refused: 10.0.0.1 is a private address")
