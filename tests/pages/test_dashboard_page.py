import pytest

pytestmark = pytest.mark.django_db


def test_it_shows_the_dashboard_with_counts_and_navigation(owner_browser, catalog, sandbox):
    response = owner_browser.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="stat">4</span> templates' in html
    assert '<span class="stat">1</span> clusters' in html
    assert "simulated sandbox" in html
    for link in ('href="/templates/"', 'href="/deployments/"', 'href="/clusters/"', 'href="/notifications/"'):
        assert link in html


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    assert client.get("/").status_code == 302


def test_it_counts_deployments_by_status(owner_browser, owner, catalog, sandbox):
    from usecases.models import UseCaseDeployment
    from usecases.services.deployments import deployment_create

    for name in ("a", "b", "c"):
        deployment_create(owner=owner, name=name, template="valkey-cache", cluster_id=sandbox.pk)
    UseCaseDeployment.objects.filter(name="c").update(status="failed")

    html = owner_browser.get("/").content.decode()

    assert '<span class="stat">3</span> deployments' in html
    chips = html[html.index('class="chips"') :].split("</p>", 1)[0]
    assert chips.count('<span class="meta">') == 2  # one chip per status
    assert '<span class="meta">1</span>' in chips
    assert '<span class="meta">2</span>' in chips
