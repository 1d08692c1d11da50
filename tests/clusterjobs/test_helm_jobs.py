"""Helm jobs with the real helm binary against the Kubernetes API stand-in (a contract fake: nothing runs)."""

import logging
import time

import pytest

from clusterjobs import services
from clusterjobs.helm.runner import ChartSource, HelmCancelled, HelmRunner
from clusterjobs.models import Job, JobStatus
from pipelines.models import Event
from tests.clusterjobs.conftest import SECRET_TOKEN

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


def job_events(job):
    return list(Event.objects.filter(topic="budpipelineEvents", workflow_id=str(job.pk)))


@pytest.mark.parametrize(
    ("chart", "port"),
    [("qdrant", 6333), ("valkey", 6379), ("vllm", 8000), ("text-embeddings", 8080), ("agent-runtime", 8080)],
)
def test_it_installs_each_bundled_chart_and_reports_its_endpoint(sandbox, run_job, chart, port):
    job = run_job(sandbox, chart_ref=f"charts/{chart}", release_name=chart, namespace=NS)

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.started_at
    assert job.completed_at
    assert job.error == ""
    assert job.result["endpoint_url"] == f"http://{chart}.{NS}.svc.cluster.local:{port}"
    assert job.result["namespace"] == NS
    assert job.result["release_name"] == chart
    assert job.result["revision"] == 1
    assert any(s["name"] == chart for s in job.result["services"])
    assert sandbox.standin.get("Service", NS, chart) is not None
    assert sandbox.standin.get("Namespace", None, NS) is not None


def test_it_publishes_the_seed_shaped_job_completed_event(sandbox, run_job):
    job = run_job(sandbox, chart_ref="charts/qdrant", release_name="db", namespace=NS)

    [event] = job_events(job)
    assert event.type == "job_completed"
    assert event.payload == {
        "type": "job_completed",
        "workflow_id": str(job.pk),
        "payload": {
            "job_id": str(job.pk),
            "job_type": "helm_deploy",
            "source": "tests",
            "source_id": "src-1",
            "status": "COMPLETED",
            "content": {"result": job.result, "status": "COMPLETED"},
        },
    }


def test_it_passes_values_to_the_rendered_objects(sandbox, run_job, test_charts):
    job = run_job(
        sandbox,
        chart_ref="charts/demo",
        release_name="web",
        namespace=NS,
        values={"port": 9000, "message": "from values", "replicaCount": 2},
    )

    assert job.status == JobStatus.COMPLETED, job.error
    service = sandbox.standin.get("Service", NS, "web")
    assert service["spec"]["ports"][0]["port"] == 9000
    assert sandbox.standin.get("ConfigMap", NS, "web-config")["data"]["message"] == "from values"
    assert sandbox.standin.get("Deployment", NS, "web")["spec"]["replicas"] == 2
    assert job.result["endpoint_url"] == f"http://web.{NS}.svc.cluster.local:9000"


def test_it_upgrades_a_release_in_place_in_the_same_namespace(sandbox, run_job, test_charts):
    first = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, values={"message": "v1"})
    second = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, values={"message": "v2"})

    assert (first.status, second.status) == (JobStatus.COMPLETED, JobStatus.COMPLETED), second.error
    assert second.result["revision"] == 2
    assert second.result["namespace"] == NS
    assert sandbox.standin.get("ConfigMap", NS, "web-config")["data"]["message"] == "v2"
    assert [d["metadata"]["name"] for d in sandbox.standin.objects("Deployment")] == ["web"]


def test_it_fails_with_helms_error_and_rolls_back_when_a_release_never_becomes_ready(sandbox, run_job, test_charts):
    sandbox.standin.fail_release("web")

    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, timeout="3s")

    assert job.status == JobStatus.FAILED
    assert "context deadline exceeded" in job.error or "timed out" in job.error, job.error
    assert "atomic" in job.error or "uninstall" in job.error.lower(), job.error
    # --atomic removed what the failed install had created.
    assert sandbox.standin.get("Deployment", NS, "web") is None
    [event] = job_events(job)
    assert event.type == "job_failed"
    assert event.payload["payload"]["status"] == "FAILED"
    assert event.payload["payload"]["error"] == job.error


def test_it_marks_a_job_that_outlives_its_deadline_as_timeout(sandbox, run_job, test_charts):
    sandbox.standin.set_controllers(False)

    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, timeout_seconds=2)

    assert job.status == JobStatus.TIMEOUT, job.error
    assert job.completed_at is not None
    assert job_events(job)[0].payload["payload"]["status"] == "TIMEOUT"


def test_it_uninstalls_releases_and_removes_the_empty_namespace(sandbox, run_job, test_charts):
    run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)
    run_job(sandbox, chart_ref="charts/qdrant", release_name="db", namespace=NS)

    job = run_job(sandbox, job_type="helm_uninstall", namespace=NS, releases=["web", "db"])

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result == {"namespace": NS, "uninstalled": ["web", "db"], "namespace_deleted": True}
    assert sandbox.standin.objects("Deployment", namespace=NS) == []
    assert sandbox.standin.objects("Service", namespace=NS) == []
    assert sandbox.standin.get("Namespace", None, NS) is None


def test_it_keeps_the_namespace_while_another_release_lives_in_it(sandbox, run_job, test_charts):
    run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)
    run_job(sandbox, chart_ref="charts/qdrant", release_name="db", namespace=NS)

    job = run_job(sandbox, job_type="helm_uninstall", namespace=NS, releases=["web"])

    assert job.status == JobStatus.COMPLETED
    assert job.result["namespace_deleted"] is False
    assert sandbox.standin.get("Namespace", None, NS) is not None
    assert sandbox.standin.get("Service", NS, "db-qdrant") is not None


def test_it_refuses_a_chart_that_renders_a_privileged_pod_before_installing(sandbox, run_job, test_charts):
    job = run_job(sandbox, chart_ref="charts/privileged", release_name="agent", namespace=NS)

    assert job.status == JobStatus.FAILED
    assert "DaemonSet/agent-agent: spec.template.spec.containers[0].securityContext.privileged" in job.error
    assert "spec.template.spec.hostNetwork" in job.error
    assert "volumes[0].hostPath" in job.error
    # Nothing reached the cluster: no namespace, no Helm release record.
    assert sandbox.standin.get("Namespace", None, NS) is None
    assert sandbox.standin.objects("Secret", label_selector="owner=helm") == []


def test_it_runs_a_job_only_once_when_the_task_is_delivered_twice(sandbox, run_job, test_charts):
    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)

    assert services.job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.result["revision"] == 1
    assert len(job_events(job)) == 1


def test_it_never_writes_the_kubeconfig_or_its_token_to_logs_or_errors(sandbox, run_job, test_charts, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.standin.fail_release("web")

    ok = run_job(sandbox, chart_ref="charts/qdrant", release_name="db", namespace=NS)
    failed = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, timeout="2s")

    assert ok.status == JobStatus.COMPLETED
    assert failed.status == JobStatus.FAILED
    assert "running command" in caplog.text  # pyhelm3 did log its commands
    for text in (caplog.text, failed.error, str(ok.result)):
        assert SECRET_TOKEN not in text
        assert "current-context" not in text


def _stop_helm_mid_install(sandbox) -> float:
    """Start an install that cannot become ready and stop helm after a second, as a dying worker would:
    the release is left pending. Returns how long that took."""
    sandbox.standin.set_controllers(False)
    runner = HelmRunner(kubeconfig=sandbox.kubeconfig)
    started = time.monotonic()
    with pytest.raises(HelmCancelled):
        runner.deploy(
            chart=ChartSource("charts/demo"),
            release_name="web",
            namespace=NS,
            values={},
            timeout_seconds=60,
            should_cancel=lambda: time.monotonic() - started > 1,
        )
    sandbox.standin.set_controllers(True)
    return time.monotonic() - started


def test_it_stops_the_helm_process_when_cancelled(sandbox, test_charts):
    assert _stop_helm_mid_install(sandbox) < 10  # not helm's 60 s timeout


def test_it_recovers_a_release_left_pending_by_a_killed_worker(sandbox, run_job, test_charts):
    _stop_helm_mid_install(sandbox)

    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)

    assert job.status == JobStatus.COMPLETED, job.error


def test_it_cancels_a_pending_job_and_tells_the_waiting_step(sandbox):
    job = services.job_create(
        owner=sandbox.owner,
        cluster=sandbox,
        job_type="helm_deploy",
        config={"chart_ref": "charts/qdrant", "release_name": "db", "namespace": NS},
    )

    services.job_cancel(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.completed_at is not None
    assert services.job_run(job_id=job.pk) is None  # a late task does nothing
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    [event] = job_events(job)
    assert event.type == "job_failed"
    assert event.payload["payload"]["status"] == "CANCELLED"


def test_it_installs_upgrades_and_uninstalls_with_helm_4_too(sandbox, run_job, test_charts, settings, helm4_binary):
    settings.HELM_BINARY = helm4_binary

    first = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, values={"message": "v1"})
    second = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS, values={"message": "v2"})
    removed = run_job(sandbox, job_type="helm_uninstall", namespace=NS, releases=["web"])

    assert first.status == JobStatus.COMPLETED, first.error
    assert second.status == JobStatus.COMPLETED, second.error
    assert second.result["revision"] == 2, second.error
    assert first.result["endpoint_url"] == f"http://web.{NS}.svc.cluster.local:8080"
    assert removed.status == JobStatus.COMPLETED, removed.error
    assert removed.result["namespace_deleted"] is True, removed.error
    assert sandbox.standin.get("Deployment", NS, "web") is None


def _orphan_job_left_by_a_dead_worker(sandbox, attempts: int) -> Job:
    """A RUNNING job whose worker died mid-install: the lease has expired and Helm left the release pending."""
    from datetime import timedelta

    from django.utils import timezone

    _stop_helm_mid_install(sandbox)
    job = services.job_create(
        owner=sandbox.owner,
        cluster=sandbox,
        job_type="helm_deploy",
        config={"chart_ref": "charts/demo", "release_name": "web", "namespace": NS},
    )
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        started_at=now,
        attempts=attempts,
        deadline=now + timedelta(hours=1),
        lease_expires_at=now - timedelta(seconds=1),
    )
    return job


def test_it_runs_again_a_job_whose_worker_died_and_installs_the_release_once(
    sandbox, test_charts, django_capture_on_commit_callbacks
):
    job = _orphan_job_left_by_a_dead_worker(sandbox, attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.jobs_sweep()

    assert counts == {"jobs_timed_out": 0, "jobs_recovered": 1}
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.attempts == 2, job.error
    assert job.lease_expires_at is None
    records = sandbox.standin.objects("Secret", NS, label_selector="owner=helm,name=web")
    assert [r["metadata"]["labels"]["status"] for r in records].count("deployed") == 1
    assert [e.type for e in job_events(job)] == ["job_completed"]


def test_it_gives_up_on_a_job_whose_worker_keeps_dying(sandbox, test_charts):
    job = _orphan_job_left_by_a_dead_worker(sandbox, attempts=3)

    assert services.job_recover_stale() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "worker lost 3 times" in job.error
    assert [e.type for e in job_events(job)] == ["job_failed"]


def test_it_leaves_a_running_job_with_a_live_lease_alone(sandbox, test_charts, run_job):
    job = run_job(sandbox, chart_ref="charts/demo", release_name="web", namespace=NS)

    assert services.job_recover_stale() == 0
    assert services.job_renew_lease(job_id=job.pk) is False  # a finished job has no lease to renew
