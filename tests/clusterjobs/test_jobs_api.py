import pytest

from clusterjobs.models import JOB_TYPE_TIMEOUTS, Job, JobStatus, JobType
from tests.clusterjobs.conftest import SECRET_TOKEN
from tests.dbstate import stored

pytestmark = pytest.mark.django_db

NS = "uc-0a1b2c3d"


def _job_body(cluster, **config):
    base = {"chart_ref": "charts/qdrant", "release_name": "vector_db", "namespace": NS, "values": {"port": 7000}}
    return {
        "job_type": "helm_deploy",
        "cluster_id": str(cluster.pk),
        "config": {**base, **config},
        "source": "budpipeline",
        "source_id": "exec-1",
    }


def _post(client, body):
    return client.post("/api/jobs", body, content_type="application/json")


def test_it_creates_a_pending_job_with_a_normalised_config(owner, owner_api, cluster):
    response = _post(owner_api, _job_body(cluster))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["timeout_seconds"] == JOB_TYPE_TIMEOUTS[JobType.HELM_DEPLOY] == 3600
    job = Job.objects.get(pk=body["id"])
    assert job.owner == owner
    assert job.cluster == cluster
    assert job.deadline is None
    assert job.config["release_name"] == "vector-db"  # underscores become dashes
    assert job.config["values"] == {"port": 7000}
    assert SECRET_TOKEN not in response.content.decode()


def test_it_takes_a_per_job_timeout_over_the_type_default(owner_api, cluster):
    response = _post(owner_api, {**_job_body(cluster), "timeout_seconds": 120})

    assert response.status_code == 201
    assert response.json()["timeout_seconds"] == 120
    assert Job.objects.get(pk=response.json()["id"]).timeout_seconds == 120


@pytest.mark.parametrize(
    ("config", "loc", "message"),
    [
        ({"chart_ref": "charts/qdrant;reboot"}, ["config", "chart_ref"], "not allowed"),
        ({"chart_ref": "http://charts.example.com/x"}, ["config", "chart_ref"], "http://"),
        ({"chart_ref": "charts/nope"}, ["config", "chart_ref"], "no bundled chart"),
        ({"namespace": "kube-system"}, ["config", "namespace"], "uc-<8 hex digits>"),
        ({"release_name": "Ünïcode!" * 10}, ["config", "release_name"], "not a valid name"),
        (
            {"values": {"sidecars": [{"securityContext": {"privileged": True}}]}},
            ["config", "values", "sidecars", 0, "securityContext", "privileged"],
            "privileged",
        ),
        ({"values": {"hostNetwork": True}}, ["config", "values", "hostNetwork"], "hostNetwork"),
        ({"timeout": "forever"}, ["config", "timeout"], "timeout"),
    ],
)
def test_it_refuses_an_unsafe_or_invalid_config_with_422(owner_api, cluster, config, loc, message):
    response = _post(owner_api, _job_body(cluster, **config))

    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert any(d["loc"] == loc and message in d["msg"] for d in detail), detail
    assert not Job.objects.exists()


def test_it_refuses_an_unknown_job_type(owner_api, cluster):
    response = _post(owner_api, {**_job_body(cluster), "job_type": "mine_bitcoin"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["job_type"]
    assert not Job.objects.exists()


def test_it_does_not_let_a_user_run_jobs_on_someone_elses_cluster(other_api, cluster):
    assert _post(other_api, _job_body(cluster)).status_code == 404
    assert not Job.objects.exists()


def test_it_hides_another_users_job_with_404(owner_api, other_api, cluster):
    job_id = _post(owner_api, _job_body(cluster)).json()["id"]
    before = stored(Job.objects.get(pk=job_id))

    assert other_api.get(f"/api/jobs/{job_id}").status_code == 404
    assert other_api.post(f"/api/jobs/{job_id}/execute").status_code == 404
    assert other_api.post(f"/api/jobs/{job_id}/cancel").status_code == 404
    assert other_api.get("/api/jobs").json()["items"] == []
    assert Job.objects.get(pk=job_id).status == JobStatus.PENDING
    assert stored(Job.objects.get(pk=job_id)) == before  # not queued either: no deadline set


def test_it_lists_jobs_by_source_id(owner_api, staff_api, cluster):
    mine = _post(owner_api, _job_body(cluster)).json()["id"]
    _post(owner_api, {**_job_body(cluster), "source_id": "exec-2"})

    listed = owner_api.get("/api/jobs", {"source_id": "exec-1"}).json()["items"]

    assert [j["id"] for j in listed] == [mine]
    assert staff_api.get("/api/jobs").json()["total"] == 2


def test_it_queues_a_pending_job_once_and_answers_409_after(owner_api, cluster, django_capture_on_commit_callbacks):
    job_id = _post(owner_api, _job_body(cluster)).json()["id"]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_api.post(f"/api/jobs/{job_id}/execute")
    assert response.status_code == 202
    assert response.json()["status"] == "PENDING"
    assert response.json()["deadline"] is not None
    assert len(callbacks) == 1  # the task is queued only after commit
    job = Job.objects.get(pk=job_id)
    assert job.deadline is not None
    queued = stored(job)

    again = owner_api.post(f"/api/jobs/{job_id}/execute")
    assert again.status_code == 409
    assert stored(job) == queued  # the deadline is not pushed back by a second execute


def test_it_answers_409_when_executing_a_finished_job(owner_api, cluster):
    job_id = _post(owner_api, _job_body(cluster)).json()["id"]
    Job.objects.filter(pk=job_id).update(status=JobStatus.COMPLETED)
    finished = stored(Job.objects.get(pk=job_id))

    assert owner_api.post(f"/api/jobs/{job_id}/execute").status_code == 409
    assert stored(Job.objects.get(pk=job_id)) == finished


def test_it_cancels_a_job_and_refuses_to_cancel_a_completed_one(owner_api, cluster):
    job_id = _post(owner_api, _job_body(cluster)).json()["id"]

    response = owner_api.post(f"/api/jobs/{job_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.completed_at is not None
    cancelled = stored(job)
    assert owner_api.post(f"/api/jobs/{job_id}/execute").status_code == 409
    assert stored(job) == cancelled  # not queued again

    done_id = _post(owner_api, _job_body(cluster)).json()["id"]
    Job.objects.filter(pk=done_id).update(status=JobStatus.COMPLETED)
    done = stored(Job.objects.get(pk=done_id))
    assert owner_api.post(f"/api/jobs/{done_id}/cancel").status_code == 409
    assert stored(Job.objects.get(pk=done_id)) == done


def test_it_fails_a_job_whose_stored_config_became_unsafe_when_the_worker_revalidates(owner, cluster):
    from clusterjobs import services

    job = services.job_create(
        owner=owner,
        cluster=cluster,
        job_type="helm_deploy",
        config={"chart_ref": "charts/qdrant", "release_name": "db", "namespace": NS},
    )
    Job.objects.filter(pk=job.pk).update(config={**job.config, "values": {"hostPID": True}})

    services.job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "hostPID" in job.error
    assert job.started_at
    assert job.completed_at


def test_it_refuses_to_delete_a_cluster_with_a_queued_job(owner_api, cluster, django_capture_on_commit_callbacks):
    job_id = _post(owner_api, _job_body(cluster)).json()["id"]
    with django_capture_on_commit_callbacks(execute=False):
        owner_api.post(f"/api/jobs/{job_id}/execute")

    assert owner_api.delete(f"/api/clusters/{cluster.pk}").status_code == 409
    assert Job.objects.filter(pk=job_id).exists()


def test_it_times_out_jobs_past_their_deadline_and_tells_the_waiting_step(owner, cluster):
    from datetime import timedelta

    from django.utils import timezone

    from clusterjobs import tasks
    from pipelines.models import Event

    job = Job.objects.create(
        owner=owner,
        cluster=cluster,
        job_type="helm_deploy",
        status=JobStatus.RUNNING,
        config={"namespace": NS},
        timeout_seconds=60,
        deadline=timezone.now() - timedelta(seconds=1),
    )
    fresh = Job.objects.create(
        owner=owner,
        cluster=cluster,
        job_type="helm_deploy",
        status=JobStatus.RUNNING,
        config={"namespace": NS},
        timeout_seconds=60,
        deadline=timezone.now() + timedelta(seconds=60),
    )

    assert tasks.expire_overdue_jobs() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.TIMEOUT
    assert "timeout of 60 s" in job.error
    assert job.completed_at
    assert Job.objects.get(pk=fresh.pk).status == JobStatus.RUNNING
    event = Event.objects.get(workflow_id=str(job.pk))
    assert event.type == "job_failed"
    assert event.payload["payload"]["status"] == "TIMEOUT"


def test_it_sweeps_overdue_jobs_on_the_pipeline_sweep(owner, cluster):
    from datetime import timedelta

    from django.utils import timezone

    from pipelines.sweep import sweep

    job = Job.objects.create(
        owner=owner,
        cluster=cluster,
        job_type="helm_deploy",
        status=JobStatus.RUNNING,
        config={"namespace": NS},
        timeout_seconds=60,
        deadline=timezone.now() - timedelta(seconds=1),
    )

    counts = sweep()

    assert counts["jobs_timed_out"] == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.TIMEOUT


def test_it_reports_an_undecryptable_kubeconfig_as_unhealthy(owner_api, cluster, settings):
    settings.KUBECONFIG_ENCRYPTION_KEY = "rotated-without-re-encrypting"

    body = owner_api.get(f"/api/clusters/{cluster.pk}/health").json()

    assert body["healthy"] is False
    assert "cannot be decrypted" in body["error"]


def test_it_refuses_a_deployment_id_that_is_not_a_uuid(owner_api, cluster):
    response = _post(owner_api, _job_body(cluster, deployment_id="not-a-uuid"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["config", "deployment_id"]
    assert not Job.objects.exists()
