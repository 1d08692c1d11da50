"""GET /api/deployments/{id} reads the deployment, its owner, latest revision status and components in one
statement, whatever the number of components (none included), prepared on PostgreSQL; a remembered bearer token
adds none."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest
from django.db import connection
from django.test import Client, override_settings

from budportal.auth import token_cache
from budportal.models import ApiToken
from clusterjobs.crypto import seal
from tests.production.services import another_session
from usecases.models.deployments import ComponentDeployment, DeploymentRevision, RevisionStatus, UseCaseDeployment
from usecases.selectors.deployments import deployment_detail_get

pytestmark = pytest.mark.django_db
# SQLite, pass 1's database, has no prepared statements and runs the read through Django's cursor (the other tests
# here cover that path); scripts/test.sh's pass 2 runs these on PostgreSQL.
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: pass 2")


@pytest.mark.parametrize("components", [0, 1, 8])
def test_the_detail_get_costs_one_statement(owner, components, django_assert_num_queries) -> None:
    token_cache.clear()
    deployment = UseCaseDeployment.objects.create(
        name="demo", owner=owner, template_name="t", template_version="1", namespace="ns"
    )
    for i in range(components):
        ComponentDeployment.objects.create(deployment=deployment, component_name=f"c{i}", component_type="helm")
    DeploymentRevision.objects.create(deployment=deployment, number=1, status=RevisionStatus.FAILED)
    _, raw = ApiToken.issue(user=owner, name="detail")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"/api/deployments/{deployment.pk}").status_code == 200  # the token is now remembered

    with django_assert_num_queries(1):
        body = client.get(f"/api/deployments/{deployment.pk}").json()

    assert [c["name"] for c in body["components"]] == [f"c{i}" for i in range(components)]
    assert body["access_urls"] == []
    assert body["owner"] == owner.username
    assert body["last_apply_failed"] is True


@pytest.fixture
def rich(owner) -> UseCaseDeployment:
    """A deployment with every kind of value the detail shows: JSON fields, a masked secret, dates, components
    out of creation order, one with a public access URL, and a failed latest revision after a draft."""
    deployment = UseCaseDeployment.objects.create(
        name="rich",
        owner=owner,
        template_name="t",
        template_version="1",
        namespace="ns",
        status="running",
        parameters={"replicas": 2, "nested": {"a": [1, "b"]}},
        value_overrides={"auth": {"password": seal("s3cret")}},
        live_revision=1,
    )
    ComponentDeployment.objects.create(
        deployment=deployment, component_name="second", component_type="helm", position=1
    )
    ComponentDeployment.objects.create(
        deployment=deployment,
        component_name="first",
        component_type="helm",
        position=0,
        status="running",
        outputs={"access_url": "https://rich.example.com", "access_kind": "ingress"},
    )
    DeploymentRevision.objects.create(deployment=deployment, number=1, status=RevisionStatus.FAILED)
    DeploymentRevision.objects.create(deployment=deployment, number=2, status=RevisionStatus.DRAFT)
    return deployment


def test_the_detail_says_what_the_list_says_about_a_deployment(rich, owner_api, staff_api) -> None:
    for client in (owner_api, staff_api):
        detail = client.get(f"/api/deployments/{rich.pk}").json()
        listed = client.get("/api/deployments").json()["items"]
        assert detail == next(item for item in listed if item["id"] == str(rich.pk))
    assert [c["name"] for c in detail["components"]] == ["first", "second"]
    assert detail["access_urls"] == [{"component": "first", "url": "https://rich.example.com", "kind": "ingress"}]
    assert detail["value_overrides"]["auth"]["password"].startswith("<secret #")
    assert detail["last_apply_failed"] is True
    assert detail["owner"] == "owner"


def test_the_detail_hides_another_users_deployment_and_refuses_a_malformed_id(rich, other_api) -> None:
    assert other_api.get(f"/api/deployments/{rich.pk}").status_code == 404
    assert other_api.get("/api/deployments/not-a-uuid").status_code == 422


def _prepared_detail_runs() -> int:
    """How many times this connection ran the detail read as a prepared statement (PostgreSQL 14+)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%owner_name%"],
        )
        return cursor.fetchone()[0]


@postgresql_only
@pytest.mark.parametrize("prepared", [True, False])
def test_postgresql_plans_the_detail_read_once_per_connection(rich, owner_api, prepared) -> None:
    """PostgreSQL planning the read on every call was half its CPU per detail GET; the setting turns preparing
    off for poolers that cannot keep prepared statements."""
    before = _prepared_detail_runs()
    with override_settings(DATABASE_PREPARED_STATEMENTS=prepared):
        for _ in range(3):
            assert owner_api.get(f"/api/deployments/{rich.pk}").json()["name"] == "rich"
    assert _prepared_detail_runs() - before == (3 if prepared else 0)


def _alter_deployment_name_length(length: int) -> None:
    """What a migration does from another process: the type (length) of a column the detail read returns."""
    with another_session(autocommit=True) as admin:
        table = UseCaseDeployment._meta.db_table
        admin.execute(f"ALTER TABLE {table} ALTER COLUMN name TYPE varchar({length})")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_migration_changing_a_returned_column_does_not_break_the_prepared_read(owner) -> None:
    """PostgreSQL refuses a prepared plan whose result type changed ("cached plan must not change result type"):
    in a rolling upgrade, the old processes would answer 500 on that connection until it was replaced."""
    deployment = UseCaseDeployment.objects.create(
        name="demo", owner=owner, template_name="t", template_version="1", namespace="ns"
    )
    assert deployment_detail_get(user=owner, deployment_id=deployment.pk).name == "demo"  # prepared
    length = UseCaseDeployment._meta.get_field("name").max_length
    _alter_deployment_name_length(length + 1)
    try:
        for _ in range(2):
            assert deployment_detail_get(user=owner, deployment_id=deployment.pk).name == "demo"
    finally:
        _alter_deployment_name_length(length)


@postgresql_only
def test_preparing_is_on_only_while_the_read_runs(rich, owner) -> None:
    """While psycopg's preparing is on it also counts every other statement by its full text, values included."""
    deployment_detail_get(user=owner, deployment_id=rich.pk)
    assert connection.connection.prepare_threshold is None


def test_a_threads_row_readers_go_with_it() -> None:
    """Each request thread keeps readers for its own connection; when the thread ends, neither they nor the
    connection they are bound to stay behind (a process-wide map kept every thread's connection)."""
    from django.db import connections

    from usecases.selectors import rows

    seen: list[weakref.ref] = []

    def request_thread() -> None:
        reader = rows.reader(UseCaseDeployment)
        assert rows.reader(UseCaseDeployment) is reader  # built once per connection
        seen.append(weakref.ref(connections["default"]))
        connections.close_all()

    thread = threading.Thread(target=request_thread)
    thread.start()
    thread.join()
    del thread
    gc.collect()
    assert seen[0]() is None
