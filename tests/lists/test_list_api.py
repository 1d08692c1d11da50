"""The API's lists: ``{items, total, page, page_size}``, bounded page sizes, django-filter filters, search and
sort, scoped to the caller."""

from __future__ import annotations

import pytest

from clusterjobs.models import Cluster
from pipelines.models import Notification, PipelineExecution
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment

pytestmark = pytest.mark.django_db


def test_it_pages_deployments_with_total_and_page_size(owner_api, owner, make_deployments):
    make_deployments(owner, 34)
    body = owner_api.get("/api/deployments?page=2&page_size=10").json()
    assert body["total"] == 34
    assert body["page"] == 2
    assert body["page_size"] == 10
    # Newest first by default: page 2 holds the 11th..20th newest.
    assert [d["name"] for d in body["items"]] == [f"app-{i:03d}" for i in range(23, 13, -1)]
    last = owner_api.get("/api/deployments?page=4&page_size=10").json()
    assert [d["name"] for d in last["items"]] == ["app-003", "app-002", "app-001", "app-000"]
    assert owner_api.get("/api/deployments?page=9&page_size=10").json()["items"] == []


def test_it_defaults_to_twenty_per_page(owner_api, owner, make_deployments):
    make_deployments(owner, 25)
    body = owner_api.get("/api/deployments").json()
    assert (len(body["items"]), body["total"], body["page"], body["page_size"]) == (20, 25, 1, 20)


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page_size=-5", "page=0", "page_size=abc"])
def test_it_refuses_page_parameters_out_of_range(owner_api, query):
    response = owner_api.get(f"/api/deployments?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] in ("page", "page_size")


def test_it_filters_deployments_by_status_template_and_cluster(owner_api, owner, make_deployments, make_cluster):
    prod = make_cluster(owner, "prod")
    make_deployments(owner, 3, prefix="ok", status=DeploymentStatus.RUNNING)
    make_deployments(owner, 2, prefix="bad", status=DeploymentStatus.FAILED, template="agent-rag", cluster=prod)
    failed = owner_api.get("/api/deployments?status=failed").json()
    assert failed["total"] == 2
    assert {d["status"] for d in failed["items"]} == {"failed"}
    assert owner_api.get("/api/deployments?template=agent-rag").json()["total"] == 2
    assert owner_api.get(f"/api/deployments?cluster={prod.pk}").json()["total"] == 2
    assert owner_api.get("/api/deployments?status=running&template=agent-rag").json()["total"] == 0


def test_it_refuses_an_unknown_status_with_the_parameter_named(owner_api):
    response = owner_api.get("/api/deployments?status=exploded")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "status"]
    bad_uuid = owner_api.get("/api/deployments?cluster=not-a-uuid")
    assert bad_uuid.status_code == 422
    assert bad_uuid.json()["detail"][0]["loc"] == ["query", "cluster"]


def test_it_searches_and_sorts_deployments(owner_api, owner, make_deployments):
    make_deployments(owner, 3, prefix="alpha")
    make_deployments(owner, 2, prefix="beta")
    found = owner_api.get("/api/deployments?q=bet").json()
    assert sorted(d["name"] for d in found["items"]) == ["beta-000", "beta-001"]
    by_name = owner_api.get("/api/deployments?sort=name").json()["items"]
    assert [d["name"] for d in by_name] == sorted(d["name"] for d in by_name)
    by_name_desc = owner_api.get("/api/deployments?sort=-name").json()["items"]
    assert by_name_desc[0]["name"] == "beta-001"
    assert owner_api.get("/api/deployments?sort=password").status_code == 422


def test_it_lets_staff_filter_by_owner_and_keeps_others_out(
    owner_api, other_api, staff_api, owner, other_user, make_deployments
):
    make_deployments(owner, 3, prefix="mine")
    make_deployments(other_user, 2, prefix="theirs")
    assert staff_api.get("/api/deployments").json()["total"] == 5
    assert staff_api.get("/api/deployments?owner=other").json()["total"] == 2
    # A user's list never shows someone else's rows, whatever the owner filter says.
    assert owner_api.get("/api/deployments?owner=other").json()["total"] == 0
    assert other_api.get("/api/deployments").json()["total"] == 2
    assert UseCaseDeployment.objects.count() == 5


def test_it_pages_and_filters_clusters(owner_api, owner, make_cluster):
    for name in ("alpha", "beta", "gamma"):
        make_cluster(owner, name)
    body = owner_api.get("/api/clusters?page_size=2").json()
    assert body["total"] == 3
    assert [c["name"] for c in body["items"]] == ["alpha", "beta"]
    assert [c["name"] for c in owner_api.get("/api/clusters?q=gam").json()["items"]] == ["gamma"]
    assert owner_api.get("/api/clusters?sort=-name").json()["items"][0]["name"] == "gamma"
    assert Cluster.objects.count() == 3


def test_it_pages_executions_and_accepts_lower_case_status(owner_api, owner):
    for i in range(5):
        PipelineExecution.objects.create(
            owner=owner, name=f"run-{i}", dag={}, status="FAILED" if i % 2 else "COMPLETED"
        )
    body = owner_api.get("/api/executions?status=failed&page_size=1").json()
    assert body["total"] == 2
    assert len(body["items"]) == 1
    assert body["items"][0]["status"] == "FAILED"
    assert owner_api.get("/api/executions?status=nope").status_code == 422


def test_it_pages_notifications_and_filters_unread(owner_api, owner, other_user):
    for i in range(7):
        Notification.objects.create(user=owner, message=f"note {i}")
    Notification.objects.filter(message="note 0").update(read_at="2026-01-01T00:00:00Z")
    Notification.objects.create(user=other_user, message="not yours")
    assert owner_api.get("/api/notifications").json()["total"] == 7
    unread = owner_api.get("/api/notifications?unread=true&page_size=5").json()
    assert unread["total"] == 6
    assert len(unread["items"]) == 5
    assert owner_api.get("/api/notifications?unread=false").json()["total"] == 7


def test_it_documents_the_filters_in_the_openapi_schema(owner_api):
    schema = owner_api.get("/api/openapi.json").json()
    names = {p["name"] for p in schema["paths"]["/api/deployments"]["get"]["parameters"]}
    assert {"page", "page_size", "status", "template", "cluster", "owner", "q", "sort"} <= names
