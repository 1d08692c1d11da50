"""The Day 2 pages: history table and Edit link on the deployment page, the edit form (a draft), the plan
page with its diffs, apply and roll back; someone else's deployment is a 404."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.dbstate import everything
from usecases.models.deployments import DeploymentRevision, UseCaseDeployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed(owner_api, create, call) -> dict:
    created = create()
    call(owner_api.post, f"/api/deployments/{created['id']}/start")
    return owner_api.get(f"/api/deployments/{created['id']}").json()


@pytest.fixture
def browser(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def test_the_deployment_page_shows_the_history_newest_first_and_an_edit_link(browser, deployed):
    html = browser.get(f"/deployments/{deployed['id']}/").content.decode()
    assert 'id="revision-history"' in html
    assert 'id="revision-1"' in html
    assert 'id="edit-link"' in html
    assert "revision 1 live" in html


def test_editing_values_makes_a_draft_whose_plan_shows_the_diff_and_applying_it_goes_live(
    browser, deployed, django_capture_on_commit_callbacks, sandbox
):
    pk = deployed["id"]
    form = browser.get(f"/deployments/{pk}/edit").content.decode()
    assert 'name="values-vector_db"' in form
    assert 'name="param-chunk_size"' in form
    response = browser.post(
        f"/deployments/{pk}/edit", {"param-chunk_size": "512", "values-vector_db": "replicaCount: 2\n"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/plan?revision=draft")
    plan = browser.get(response["Location"]).content.decode()
    assert 'data-action="upgrade"' in plan
    assert "+replicaCount: 2" in plan
    assert 'id="plan-llm" data-action="skip"' in plan
    assert 'data-change="changed"' in plan
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/deployments/{pk}/apply", {"revision": "2"})
    assert response.status_code == 302
    assert UseCaseDeployment.objects.get(pk=pk).live_revision == 2
    html = browser.get(f"/deployments/{pk}/").content.decode()
    assert 'id="revision-2" data-status="succeeded"' in html

    back = browser.get(f"/deployments/{pk}/plan?revision=1").content.decode()
    assert 'id="rollback-button"' in back
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(f"/deployments/{pk}/apply", {"revision": "1", "rollback": "1"})
    assert UseCaseDeployment.objects.get(pk=pk).live_revision == 3


def test_a_bad_value_in_the_edit_form_is_shown_on_its_field_and_nothing_is_saved(browser, deployed):
    pk = deployed["id"]
    response = browser.post(f"/deployments/{pk}/edit", {"values-vector_db": "securityContext: {privileged: true}"})
    assert response.status_code == 422
    assert "&#x27;privileged&#x27; is not allowed" in response.content.decode()
    response = browser.post(f"/deployments/{pk}/edit", {"values-vector_db": "a: [unclosed"})
    assert response.status_code == 422
    assert "not valid YAML" in response.content.decode()
    assert not DeploymentRevision.objects.filter(deployment_id=pk, status="draft").exists()


def test_another_user_gets_404_on_the_day2_pages(other_user, deployed):
    client = Client()
    client.force_login(other_user)
    pk = deployed["id"]
    before = everything()
    assert client.get(f"/deployments/{pk}/edit").status_code == 404
    assert client.get(f"/deployments/{pk}/plan?revision=1").status_code == 404
    assert client.post(f"/deployments/{pk}/apply", {"revision": "1", "rollback": "1"}).status_code == 404
    assert DeploymentRevision.objects.filter(deployment_id=pk).count() == 1
    assert everything() == before
