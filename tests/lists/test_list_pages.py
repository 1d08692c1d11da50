"""The list pages page and filter with the API's FilterSets; the query string is the state (reload and back
keep it), htmx gets the rows alone."""

from __future__ import annotations

import pytest

from tests.pages.conftest import htmx
from tests.usecases.templates.conftest import charts_dir, make_template  # noqa: F401 (a fixture)
from usecases.models.deployments import DeploymentStatus

pytestmark = pytest.mark.django_db

LIST = "/deployments/"


@pytest.fixture
def browser(client, owner):
    client.force_login(owner)
    return client


def test_it_pages_the_deployment_list_keeping_the_filters_in_the_links(browser, owner, make_deployments):
    make_deployments(owner, 30, prefix="ok")
    make_deployments(owner, 25, prefix="bad", status=DeploymentStatus.FAILED)
    html = browser.get(LIST, {"status": "failed", "page_size": "10"}).content.decode()
    assert "25 in all · page 1 of 3" in html
    assert html.count('<tr id="deployment-') == 10
    assert "bad-024" in html
    assert "ok-0" not in html
    assert 'href="/deployments/?status=failed&amp;page_size=10&amp;page=2"' in html
    assert '<option value="failed" selected>' in html
    second = browser.get(LIST, {"status": "failed", "page_size": "10", "page": "2"}).content.decode()
    assert "bad-014" in second
    assert "bad-024" not in second
    assert 'rel="prev"' in second


def test_it_answers_htmx_with_the_rows_only_and_varies_on_it(browser, owner, make_deployments):
    make_deployments(owner, 3, prefix="alpha")
    make_deployments(owner, 2, prefix="beta")
    response = browser.get(LIST, {"q": "bet"}, **htmx())
    html = response.content.decode()
    assert html.startswith('<div id="deployment-rows"') or 'id="deployment-rows"' in html.split("\n")[0]
    assert "<html" not in html
    assert "beta-001" in html
    assert "alpha-000" not in html
    assert "HX-Request" in response["Vary"]
    # Back after htmx's history cache is gone asks for the URL again: it needs the whole page.
    restore = browser.get(LIST, {"q": "bet"}, **htmx(HTTP_HX_HISTORY_RESTORE_REQUEST="true")).content.decode()
    assert "<html" in restore
    assert 'value="bet"' in restore


def test_it_shows_a_bad_filter_value_instead_of_failing(browser, owner, make_deployments):
    make_deployments(owner, 2)
    response = browser.get(LIST, {"status": "exploded", "page": "abc"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "status:" in html
    assert "app-000" not in html
    assert "No deployment matches these filters" in html


def test_it_offers_the_owner_filter_to_staff_only(client, owner, staff, other_user, make_deployments):
    make_deployments(owner, 2, prefix="mine")
    make_deployments(other_user, 2, prefix="theirs")
    client.force_login(staff)
    html = client.get(LIST, {"owner": "other"}).content.decode()
    assert 'name="owner"' in html
    assert "theirs-000" in html
    assert "mine-000" not in html
    client.force_login(owner)
    own = client.get(LIST, {"owner": "other"}).content.decode()
    assert 'name="owner"' not in own
    assert "theirs-000" not in own


def test_it_sorts_the_deployment_list(browser, owner, make_deployments):
    make_deployments(owner, 3, prefix="b")
    make_deployments(owner, 3, prefix="a")
    html = browser.get(LIST, {"sort": "name"}).content.decode()
    assert html.index("a-000") < html.index("a-002") < html.index("b-000")
    newest = browser.get(LIST).content.decode()
    assert newest.index("a-002") < newest.index("a-000")


def test_it_pages_notifications_and_filters_unread(browser, owner):
    from pipelines.models import Notification

    for i in range(25):
        Notification.objects.create(user=owner, title=f"note-{i:02d}", message="m")
    Notification.objects.filter(title="note-24").update(read_at="2026-01-01T00:00:00Z")
    html = browser.get("/notifications/", {"unread": "true"}).content.decode()
    assert "24 in all · page 1 of 2" in html
    assert "note-24" not in html
    second = browser.get("/notifications/", {"unread": "true", "page": "2"}).content.decode()
    assert "note-00" in second
    assert "note-23" not in second


def test_it_pages_and_sorts_the_template_catalog(browser, owner, charts_dir):

    for i in range(23):
        make_template(owner, f"tpl-{i:02d}")
    html = browser.get("/templates/", {"q": "tpl", "sort": "-created"}).content.decode()
    assert "23 in all · page 1 of 2" in html
    assert html.index("tpl-22") < html.index("tpl-10")
    assert "tpl-02" not in html
    assert 'href="/templates/?q=tpl&amp;sort=-created&amp;page=2"' in html


def test_it_pages_the_cluster_list(browser, owner, make_cluster):
    for i in range(12):
        make_cluster(owner, f"c-{i:02d}")
    html = browser.get("/clusters/", {"page_size": "5", "page": "3"}).content.decode()
    assert "12 in all · page 3 of 3" in html
    assert "c-10" in html
    assert "c-04" not in html
