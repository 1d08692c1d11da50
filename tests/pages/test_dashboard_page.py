import pytest

pytestmark = pytest.mark.django_db


def test_it_shows_the_dashboard_with_counts_and_navigation(owner_browser, catalog, sandbox):
    response = owner_browser.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="stat">4</span> templates' in html
    assert '<span class="stat">1</span> clusters' in html and "simulated sandbox" in html
    for link in ('href="/templates/"', 'href="/deployments/"', 'href="/clusters/"', 'href="/notifications/"'):
        assert link in html


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    assert client.get("/").status_code == 302
