"""The portal's own 404 and 500 pages: branded, and never Django's debug pages listing the URL patterns."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

DEBUG_404_MARKERS = ("Using the URLconf", "urlpatterns", "Django tried these URL patterns", "admin/", "healthz")


def assert_branded_404(response) -> str:
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in html
    assert 'class="brand"' in html
    for marker in DEBUG_404_MARKERS:
        assert marker not in html, marker
    return html


@pytest.mark.parametrize("debug", [True, False])
def test_it_answers_an_unknown_address_with_the_branded_page(owner_browser, settings, debug):
    settings.DEBUG = debug
    html = assert_branded_404(owner_browser.get("/no/such/page/"))
    assert 'href="/deployments/"' in html  # somewhere to go next


def test_it_offers_anonymous_visitors_the_login_page_on_a_404(client, settings):
    settings.DEBUG = True
    html = assert_branded_404(client.get("/nothing-here"))
    assert 'href="/accounts/login/"' in html


def test_it_shows_the_branded_page_for_another_users_deployment_in_debug(
    other_browser, settings, owner, catalog, sandbox
):
    from usecases.services.deployments import deployment_create

    settings.DEBUG = True
    deployment = deployment_create(owner=owner, name="mine", template="valkey-cache", cluster_id=sandbox.pk)
    html = assert_branded_404(other_browser.get(reverse("usecases:deployment-detail", args=[deployment.pk])))
    assert "mine" not in html
    assert "Raised by" not in html


@pytest.mark.parametrize("debug", [True, False])
def test_it_keeps_json_404s_for_unknown_api_addresses(owner_api, settings, debug):
    settings.DEBUG = debug
    response = owner_api.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_it_still_redirects_an_address_missing_its_slash(owner_browser, settings):
    settings.DEBUG = True
    response = owner_browser.get("/templates")
    assert response.status_code == 301
    assert response["Location"] == "/templates/"


def test_it_answers_an_unexpected_error_with_the_branded_500_page(owner, monkeypatch, settings):
    settings.DEBUG = False

    def broken(**kwargs):
        raise RuntimeError("database exploded: secret-internal-detail")

    monkeypatch.setattr("budportal.views.deployment_list", broken)
    browser = Client(raise_request_exception=False)
    browser.force_login(owner)
    response = browser.get("/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in html
    assert 'class="brand"' in html
    assert "/static/css/portal.css" in html
    assert "secret-internal-detail" not in html
    assert "Traceback" not in html
