"""Objects owned by ``owner`` of every kind a URL can name, for the scoping and secrecy tests."""

from __future__ import annotations

from typing import Any

import pytest

from clusterjobs import services as cluster_services
from clusterjobs.models import Job, JobType
from clusterjobs.registries import registry_put
from pipelines.notifications import notification_create
from pipelines.saved import saved_pipeline_create
from pipelines.services import execution_submit

# Fixtures of other test packages that the security tests use (imported here, so test modules need not).
from tests.clusterjobs.conftest import helm_settings, run_job, sandbox  # noqa: F401
from tests.clusterjobs.test_remote_charts import https_repo  # noqa: F401
from tests.pipelines.conftest import run  # noqa: F401
from tests.usecases.deployments.conftest import call, catalog, deploy_settings  # noqa: F401
from usecases.catalog_sync import template_sync_catalog
from usecases.dag import deployment_inputs
from usecases.models.deployments import RevisionKind
from usecases.services import templates as template_services
from usecases.services.deployments import deployment_create
from usecases.services.revisions import revision_new

KUBECONFIG_TOKEN = "s3cr3t-kube-token-do-not-leak"


def kubeconfig(server: str = "https://127.0.0.1:6443") -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: '{server}'}}}}]\n"
        f"users: [{{name: u, user: {{token: {KUBECONFIG_TOKEN}}}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )


TEMPLATE_DOCUMENT: dict[str, Any] = {
    "name": "owners-secret-template",
    "display_name": "Private",
    "version": "1.0.0",
    "description": "mine",
    "components": [{"name": "cache", "type": "helm", "chart": {"ref": "charts/valkey", "values": {"port": 6379}}}],
}


@pytest.fixture
def execution_delay_seconds() -> float:
    """The owned execution's one step. It never runs in plain django_db tests (no commit); transactional tests
    run tasks inline, so they override this with 0."""
    return 60


@pytest.fixture
def owned(db, owner, execution_delay_seconds) -> dict[str, Any]:
    """One object of each kind, owned by ``owner``; keys are the URL parameter names that name them."""
    template_sync_catalog()
    template = template_services.template_create(owner=owner, document=TEMPLATE_DOCUMENT)
    cluster = cluster_services.cluster_create(owner=owner, name="prod", kubeconfig=kubeconfig())
    deployment = deployment_create(owner=owner, name="mine", template="valkey-cache", cluster_id=cluster.pk)
    execution = execution_submit(
        owner=owner,
        dag={
            "name": "mine",
            "steps": [{"id": "wait", "action": "delay", "params": {"seconds": execution_delay_seconds}}],
        },
    )
    job = cluster_services.job_create(
        owner=owner,
        cluster=cluster,
        job_type=JobType.HELM_UNINSTALL,
        config={"namespace": "uc-0123abcd", "releases": ["x"]},
    )
    notification = notification_create(user=owner, message="for the owner only")
    revision = revision_new(
        deployment=deployment, kind=RevisionKind.INSTALL, inputs=deployment_inputs(deployment), user=owner
    )
    pipeline, _ = saved_pipeline_create(
        owner=owner,
        name="mine",
        dag={"name": "mine", "steps": [{"id": "a", "action": "log", "params": {"message": "x"}}]},
    )
    registry = registry_put(
        owner=owner, host="charts.example.com", username="owner", password="registry-secret", ca_pem=""
    )
    return {
        "name": template.name,
        "template_id": str(template.pk),
        "cluster_id": str(cluster.pk),
        "deployment_id": str(deployment.pk),
        "component": deployment.components.order_by("position").first().component_name,
        "execution_id": str(execution.pk),
        "job_id": str(job.pk),
        "notification_id": notification.pk,
        "number": revision.number,
        "pipeline_id": str(pipeline.pk),
        "registry_id": str(registry.pk),
        "_job": job,
    }


def job_status(job: Job) -> str:
    job.refresh_from_db()
    return job.status
