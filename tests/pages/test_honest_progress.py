"""Honest progress on the deployment page: later waves wait, a stop shows the uninstall's numbers, and what
the user's stop never reached is not labelled stopped."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.db.models import QuerySet

from usecases import sse_render
from usecases.models.deployments import ComponentDeployment, ComponentStatus
from usecases.services.deployments import (
    cleanup_finished,
    deployment_create,
    deployment_progress,
    deployment_start,
    deployment_stop,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(owner, catalog, sandbox):
    """agent-rag started; the pipeline's tasks (queued on commit) have not run: nothing is installing yet."""
    deployment = deployment_create(owner=owner, name="rag-h", template="agent-rag", cluster_id=sandbox.pk)
    deployment_start(deployment=deployment)
    deployment.refresh_from_db()
    return deployment


def test_it_shows_components_of_later_waves_as_waiting_right_after_start(started, owner_browser):
    rows = {r["name"]: r["status"] for r in sse_render.state_context(started)["rows"]}
    components = set(started.components.values_list("component_name", flat=True))
    assert {rows[name] for name in components} == {"waiting"}
    html = owner_browser.get(f"/deployments/{started.pk}/").content.decode()
    assert "waiting for an earlier wave" in html
    assert "no estimate yet" in html  # nothing comparable has finished on this cluster


def _installing_first(deployment) -> str:
    """The first component was installing when Stop came (it has a job and a release); later waves never started."""
    first = deployment.components.order_by("position").first()
    deployment.components.filter(pk=first.pk).update(
        started_at=deployment.started_at,
        status=ComponentStatus.RUNNING,
        job_id="00000000-0000-4000-8000-000000000001",
        release_name="rag-h-x",
    )
    return first.component_name


def test_it_shows_the_uninstall_progress_while_stopping_not_100_percent(started):
    _installing_first(started)
    stopping = deployment_stop(deployment=started)
    assert stopping.status == "stopping"
    progress = deployment_progress(deployment=stopping)
    assert progress["phase"] == "uninstall"
    assert progress["percent"] < 100
    assert progress["eta_seconds"] != 0.0


def test_it_does_not_label_components_the_stop_never_reached_as_stopped(started):
    first = _installing_first(started)
    stopping = deployment_stop(deployment=started)
    cleanup_finished(deployment=stopping, ok=True)
    statuses = dict(stopping.components.values_list("component_name", "status"))
    assert statuses.pop(first) == ComponentStatus.STOPPED
    assert set(statuses.values()) == {ComponentStatus.PENDING}


def test_it_draws_the_waves_coloured_by_live_status_with_clocks(started, owner_browser):
    html = owner_browser.get(f"/deployments/{started.pk}/state").content.decode()
    assert html.count('class="node type-') == started.components.count()
    assert "status-waiting" in html
    assert "status-running" not in html
    first = _installing_first(started)
    html = owner_browser.get(f"/deployments/{started.pk}/state").content.decode()
    node = html.split(f'data-name="{first}"')[0].rsplit("<g ", 1)[1]
    assert "status-running" in node
    assert 'class="node-timer" data-started="' in html


def test_it_shows_a_row_per_release_while_uninstalling(started, owner_browser):
    _installing_first(started)
    stopping = deployment_stop(deployment=started)
    html = owner_browser.get(f"/deployments/{stopping.pk}/state").content.decode()
    assert 'id="uninstall-rag-h-x"' in html
    assert "Releases being uninstalled" in html


def test_it_says_before_the_plan_when_a_choice_installs_something_else(owner_browser, catalog, sandbox):
    html = owner_browser.get("/deployments/new", {"template": "agent-rag"}).content.decode()
    assert "Milvus slot (served by Qdrant) — installs qdrant, not milvus" in html
    assert "installs <strong>qdrant</strong>, not milvus" in html
    assert "installs vllm" not in html  # a model served by vLLM is what it says


def test_a_stop_that_cannot_mark_its_components_leaves_the_deployment_stopping_not_stopped(started, monkeypatch):
    """The deployment and its components turn stopped in one transaction: a page never renders the deployment
    stopped (and closes its stream) while a component still shows running."""
    first = _installing_first(started)
    stopping = deployment_stop(deployment=started)
    update = QuerySet.update

    def failing_update(qs, **fields):
        if qs.model is ComponentDeployment and fields.get("status") == ComponentStatus.STOPPED:
            raise DatabaseError("connection lost")
        return update(qs, **fields)

    monkeypatch.setattr(QuerySet, "update", failing_update)
    with pytest.raises(DatabaseError):
        cleanup_finished(deployment=stopping, ok=True)
    monkeypatch.setattr(QuerySet, "update", update)
    stopping.refresh_from_db()
    assert stopping.status == "stopping"
    assert stopping.components.get(component_name=first).status == ComponentStatus.RUNNING
