"""The cluster actions inside real pipeline executions: Helm against the stand-in, woken by job events."""

import uuid

import pytest

from clusterjobs.actions.helm_deploy import HelmDeployAction
from clusterjobs.actions.helm_uninstall import HelmUninstallAction
from clusterjobs.models import Job, JobStatus
from pipelines.actions.registry import get_action
from pipelines.models import Event, StepExecution
from pipelines.services import execution_submit
from usecases.actions.deployment_create import COMPONENT_TYPE_TO_JOB_TYPE, DeploymentCreateAction

pytestmark = pytest.mark.django_db

DEPLOYMENT_ID = "0a1b2c3d-0000-4000-8000-000000000001"
NS = "uc-0a1b2c3d"


@pytest.fixture
def run_dag(owner, django_capture_on_commit_callbacks):
    def _run(*steps, user=None, **kwargs):
        dag = {"name": "clusterjobs-test", "version": "1.0.0", "steps": list(steps)}
        with django_capture_on_commit_callbacks(execute=True):
            execution = execution_submit(dag=dag, owner=user or owner, **kwargs)
        execution.refresh_from_db()
        return execution, {s.step_id: s for s in StepExecution.objects.filter(execution=execution)}

    return _run


def test_it_registers_the_cluster_actions():
    for action_type in ("cluster_health", "helm_deploy", "deployment_create", "helm_uninstall"):
        assert get_action(action_type).meta.type == action_type


def test_it_runs_health_then_helm_deploy_woken_by_the_job_event(sandbox, run_dag, test_charts):
    execution, steps = run_dag(
        {"id": "health", "action": "cluster_health", "params": {"cluster_id": str(sandbox.pk)}},
        {
            "id": "web",
            "action": "helm_deploy",
            "depends_on": ["health"],
            "params": {
                "cluster_id": str(sandbox.pk),
                "chart_ref": "charts/demo",
                "release_name": "web",
                "namespace": NS,
                "values": {"port": 9100},
                "timeout": "60s",
            },
        },
        {
            "id": "after",
            "action": "set_output",
            "depends_on": ["web"],
            "params": {"values": {"url": "{{ steps.web.outputs.endpoint_url }}"}},
        },
    )

    assert execution.status == "COMPLETED", {s: (v.status, v.error) for s, v in steps.items()}
    assert steps["health"].outputs["healthy"] is True
    assert steps["health"].outputs["server_version"]
    web = steps["web"]
    job = Job.objects.get(pk=web.external_workflow_id)
    assert job.status == JobStatus.COMPLETED
    assert job.source == "budpipeline"
    assert job.source_id == str(execution.pk)
    assert job.owner == execution.owner
    assert web.outputs["endpoint_url"] == f"http://web.{NS}.svc.cluster.local:9100"
    assert web.outputs["status"] == "running"
    assert web.outputs["job_id"] == str(job.pk)
    assert web.outputs["services"][0]["name"] == "web"
    assert steps["after"].outputs == {"url": web.outputs["endpoint_url"]}
    assert sandbox.standin.get("Deployment", NS, "web") is not None


def test_it_fails_the_helm_deploy_step_with_helms_error(sandbox, run_dag, test_charts):
    sandbox.standin.fail_release("web")

    execution, steps = run_dag(
        {
            "id": "web",
            "action": "helm_deploy",
            "params": {
                "cluster_id": str(sandbox.pk),
                "chart_ref": "charts/demo",
                "release_name": "web",
                "namespace": NS,
                "timeout": "2s",
            },
        },
    )

    assert execution.status == "FAILED"
    assert steps["web"].status == "FAILED"
    assert "context deadline exceeded" in steps["web"].error


def test_it_fails_cluster_health_for_an_unreachable_cluster(cluster, run_dag):
    execution, steps = run_dag({"id": "health", "action": "cluster_health", "params": {"cluster_id": str(cluster.pk)}})

    assert execution.status == "FAILED"
    assert "not healthy" in steps["health"].error
    assert "unreachable" in steps["health"].error


def test_it_does_not_let_a_pipeline_use_another_users_cluster(sandbox, other_user, run_dag):
    # A literal id is refused at submit (tests/security/test_cluster_ownership.py); a Jinja one when it runs.
    execution, steps = run_dag(
        {
            "id": "web",
            "action": "helm_deploy",
            "params": {
                "cluster_id": "{{ '" + str(sandbox.pk) + "' }}",
                "chart_ref": "charts/qdrant",
                "release_name": "db",
                "namespace": NS,
            },
        },
        user=other_user,
    )

    assert execution.status == "FAILED"
    assert "not found" in steps["web"].error
    assert not Job.objects.exists()


@pytest.fixture
def owners_deployment(owner):
    """A deployment row of the owner's with ``DEPLOYMENT_ID``: jobs may only name their owner's deployments."""
    from usecases.models.deployments import UseCaseDeployment

    return UseCaseDeployment.objects.create(
        id=DEPLOYMENT_ID, name="vec", owner=owner, template_name="t", template_version="1.0.0", namespace=NS
    )


def test_it_deploys_a_catalog_component_then_uninstalls_it(sandbox, run_dag, test_charts, owners_deployment):
    from usecases.component_catalog import resolve_component

    component = resolve_component("qdrant")
    assert component
    assert component["chart"]["ref"] == "charts/qdrant"

    execution, steps = run_dag(
        {
            "id": "vector_db",
            "action": "deployment_create",
            "params": {
                "cluster_id": str(sandbox.pk),
                "component_name": "vector_db",
                "component_type": "vector_db",
                "selected_component": "qdrant",
                "deployment_id": DEPLOYMENT_ID,
                "values": {"port": 7333},
            },
        },
        {
            "id": "cleanup",
            "action": "helm_uninstall",
            "depends_on": ["vector_db"],
            "params": {
                "cluster_id": str(sandbox.pk),
                "releases": ["{{ steps.vector_db.outputs.release_name }}"],
                "deployment_id": DEPLOYMENT_ID,
            },
        },
    )

    assert execution.status == "COMPLETED", {s: (v.status, v.error) for s, v in steps.items()}
    deploy_job = Job.objects.get(pk=steps["vector_db"].external_workflow_id)
    assert deploy_job.job_type == "vector_db_deployment"
    assert deploy_job.config["namespace"] == NS
    assert deploy_job.config["release_name"] == "vector-db"
    # The job event is tied to the deployment, so its live page wakes up.
    assert Event.objects.get(workflow_id=str(deploy_job.pk)).deployment_id == uuid.UUID(DEPLOYMENT_ID)
    assert steps["vector_db"].outputs["endpoint_url"].endswith(f".{NS}.svc.cluster.local:7333")
    assert steps["cleanup"].outputs["uninstalled"] == ["vector-db"]
    assert steps["cleanup"].outputs["namespace_deleted"] is True
    assert sandbox.standin.objects("Service", namespace=NS) == []


def test_it_maps_component_types_to_job_types_as_the_seed():
    assert COMPONENT_TYPE_TO_JOB_TYPE == {
        "model": "model_deployment",
        "llm": "model_deployment",
        "embedder": "model_deployment",
        "reranker": "model_deployment",
        "vector_db": "vector_db_deployment",
        "memory_store": "memory_store_deployment",
        "helm": "helm_deploy",
    }


@pytest.mark.parametrize(
    ("action", "params", "expected"),
    [
        (HelmDeployAction(), {"chart_ref": "charts/x"}, "cluster_id: required"),
        (HelmDeployAction(), {"cluster_id": "c", "chart_ref": "ftp://x/y"}, "chart_ref: invalid chart ref"),
        (HelmDeployAction(), {"cluster_id": "c", "chart_ref": "charts/qdrant", "values": {"hostIPC": True}}, "hostIPC"),
        (
            HelmDeployAction(),
            {"cluster_id": "c", "chart_ref": "charts/qdrant", "namespace": "default"},
            "not a deployment namespace",
        ),
        (
            DeploymentCreateAction(),
            {"cluster_id": "c", "component_name": "x", "component_type": "gpu_miner", "deployment_id": "d"},
            "component_type",
        ),
        (HelmUninstallAction(), {"cluster_id": "c", "releases": 3}, "releases"),
    ],
)
def test_it_validates_params_before_the_run(action, params, expected):
    errors = action.validate_params(params)

    assert any(expected in e for e in errors), errors


def test_it_accepts_jinja_params_it_can_only_check_when_rendered():
    params = {
        "cluster_id": "{{ parameters.cluster_id }}",
        "chart_ref": "{{ parameters.chart }}",
        "namespace": "{{ parameters.ns }}",
        "values": "{{ parameters.values }}",
    }

    assert HelmDeployAction().validate_params(params) == []


def test_it_cancels_the_job_when_the_step_is_cancelled(sandbox):
    from clusterjobs import services
    from pipelines.actions.base import ActionContext

    job = services.job_create(
        owner=sandbox.owner,
        cluster=sandbox,
        job_type="helm_deploy",
        config={"chart_ref": "charts/qdrant", "release_name": "db", "namespace": NS},
    )
    ctx = ActionContext(execution_id=str(uuid.uuid4()), step_id="s", params={}, external_workflow_id=str(job.pk))

    HelmDeployAction().cancel(ctx)
    HelmDeployAction().cancel(ctx)  # a second cancel is harmless

    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_it_lets_the_steps_own_timeout_win_while_it_waits_for_its_job(sandbox, run_dag, test_charts, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from clusterjobs import services
    from pipelines import sweep

    monkeypatch.setattr(services, "job_execute", lambda **kwargs: None)  # the job never runs, never reports
    execution, steps = run_dag(
        {
            "id": "web",
            "action": "helm_deploy",
            "timeout_seconds": 60,
            "params": {
                "cluster_id": str(sandbox.pk),
                "chart_ref": "charts/demo",
                "release_name": "web",
                "namespace": NS,
            },
        },
    )

    web = steps["web"]
    assert web.status == "AWAITING_EVENT"
    assert Job.objects.get(pk=web.external_workflow_id).timeout_seconds >= 3600  # the job's own hour...
    assert web.deadline <= timezone.now() + timedelta(seconds=60)  # ...but the step waits its own 60 s
    StepExecution.objects.filter(pk=web.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    sweep.sweep()
    web.refresh_from_db()
    assert web.status == "TIMEOUT"
