"""The periodic health sweep stays within its per-run budget however many deployments there are: at most
HEALTH_SWEEP_BATCH deployments per run, oldest-checked first, a bounded number of queries and cluster requests
per deployment, and one request per unreachable cluster per run (the Kubernetes API stand-in is a contract
fake: nothing runs)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusterjobs import services as cluster_services
from clusterjobs.standin.discovery import resource_for_kind
from clusterjobs.standin.switches import auth_refusal
from pipelines.sweep import sweep
from usecases.models import ComponentDeployment, DeploymentHealth, UseCaseDeployment

pytestmark = pytest.mark.django_db

DEPLOYMENTS = 200
BATCH = 25


def web_objects(namespace: str) -> list[dict]:
    labels = {"app": "web"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}},
    ]


def plant_release(standin, namespace: str) -> None:
    """What ``helm install`` leaves behind, written straight into the stand-in (200 real installs would take
    minutes): the release record (base64(gzip(JSON)) in a Secret labelled as Helm labels it) and its objects."""
    store = standin.store
    store.create(resource_for_kind("Namespace"), "", {"metadata": {"name": namespace}})
    objects = web_objects(namespace)
    record = {"name": "web", "version": 1, "manifest": "---\n" + "---\n".join(yaml.safe_dump(o) for o in objects)}
    encoded = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    secret = {
        "metadata": {
            "name": "sh.helm.release.v1.web.v1",
            "labels": {"owner": "helm", "name": "web", "status": "deployed", "version": "1"},
        },
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(encoded.encode()).decode()},
    }
    store.create(resource_for_kind("Secret"), namespace, secret)
    for obj in objects:
        store.create(resource_for_kind(obj["kind"]), namespace, {k: v for k, v in obj.items() if k != "apiVersion"})


def running_deployment(owner, cluster, index: int) -> UseCaseDeployment:
    namespace = f"uc-{index:08x}"
    deployment = UseCaseDeployment.objects.create(
        name=f"d{index}", owner=owner, cluster=cluster, namespace=namespace, status="running", template_name="t"
    )
    ComponentDeployment.objects.create(
        deployment=deployment, component_name="web", component_type="helm", status="running", release_name="web"
    )
    return deployment


@pytest.fixture
def many(owner, sandbox, settings):
    settings.HEALTH_SWEEP_BATCH = BATCH
    for index in range(DEPLOYMENTS):
        plant_release(sandbox.standin, f"uc-{index:08x}")
        running_deployment(owner, sandbox, index)
    sandbox.standin.controllers.reconcile()
    return sandbox


def test_each_sweep_checks_a_bounded_batch_oldest_first_within_its_query_and_request_budget(many):
    standin = many.standin
    seen: list[set] = []
    for _ in range(DEPLOYMENTS // BATCH):
        before = len(standin.request_log)
        with CaptureQueriesContext(connection) as queries:
            counts = sweep()
        requests = len(standin.request_log) - before
        assert counts["deployments_health_checked"] == BATCH
        # Per deployment: the release record, then one list per kind (Deployment, Service, ReplicaSet, Pod,
        # Endpoints) of its namespace.
        assert requests <= BATCH * 6, requests
        assert len(queries) <= 30 + BATCH * 10, len(queries)  # measured: 237 (the engine sweep + ~9 each)
        seen.append(set(DeploymentHealth.objects.filter(checked_at__isnull=False).values_list("pk", flat=True)))
    assert len(seen[-1]) == DEPLOYMENTS  # every deployment checked once, none twice
    assert all(len(b - a) == BATCH for a, b in zip([set(), *seen], seen, strict=False))
    assert set(DeploymentHealth.objects.values_list("health", flat=True)) == {"Healthy"}
    assert sweep()["deployments_health_checked"] == 0  # nothing due before the interval


def test_an_unreachable_cluster_costs_one_request_per_sweep_and_backs_off(many, owner):
    standin = many.standin
    standin.refuse(auth_refusal())
    before = len(standin.request_log)

    sweep()

    assert len(standin.request_log) - before == 1
    unknown = DeploymentHealth.objects.filter(health="Unknown")
    assert unknown.count() == BATCH
    assert {row.reason for row in unknown} == {
        "Cluster refused the credentials: the kubeconfig's token or certificate was not accepted"
    }
    assert {row.failures for row in unknown} == {1}


def test_a_second_cluster_is_not_held_up_by_an_unreachable_one(many, owner, settings):
    from tests.clusterjobs.conftest import make_kubeconfig

    dead = cluster_services.cluster_create(
        owner=owner, name="dead", kubeconfig=make_kubeconfig(server="http://127.0.0.1:9")
    )
    UseCaseDeployment.objects.update(cluster=dead)

    counts = sweep()

    assert counts["deployments_health_checked"] == BATCH
    assert DeploymentHealth.objects.filter(reason="Cluster API unreachable: connection refused").count() == BATCH
