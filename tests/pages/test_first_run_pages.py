"""What a newcomer sees: the dashboard explains the portal and offers the sandbox demo; the unread count is the
same number everywhere; the bell opens a dropdown of the latest notifications with "Mark all read"."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pipelines.models import Notification
from pipelines.notifications import notification_create
from tests.pages.conftest import htmx

pytestmark = pytest.mark.django_db


def test_it_explains_the_portal_and_offers_the_sandbox_demo(owner_browser, catalog, sandbox):
    html = owner_browser.get("/").content.decode()
    assert "Bud Portal deploys multi-component AI use cases" in html
    assert (
        'id="deploy-demo" href="/deployments/new?template=valkey-cache">Deploy the demo to the sandbox cluster' in html
    )
    # The link leads to the wizard of that template with the sandbox cluster preselected.
    wizard = owner_browser.get("/deployments/new?template=valkey-cache").content.decode()
    clusters = wizard.split('name="cluster_id"', 1)[1].split("</select>", 1)[0]
    selected = re.search(r'<option value="([^"]+)"[^>]*selected', clusters)
    assert selected
    assert selected.group(1) == str(sandbox.pk)
    assert "Valkey Cache" in wizard


def test_it_offers_no_demo_without_a_sandbox_cluster(owner_browser, catalog):
    html = owner_browser.get("/").content.decode()
    assert "deploy-demo" not in html
    assert "manage.py sandbox_cluster" in html
    assert 'href="/clusters/">Add a cluster' in html


def test_it_hides_the_welcome_once_something_is_deployed(owner_browser, owner, catalog, sandbox):
    from usecases.services.deployments import deployment_create

    deployment_create(owner=owner, name="a", template="valkey-cache", cluster_id=sandbox.pk)
    html = owner_browser.get("/").content.decode()
    assert "Get started" not in html
    assert "deploy-demo" not in html


def test_it_shows_the_same_unread_count_on_the_dashboard_and_the_bell(owner_browser, owner, other_user):
    for n in range(31):
        notification_create(user=owner, message=f"note {n}")
    notification_create(user=other_user, message="not yours")
    read = notification_create(user=owner, message="already read")
    Notification.objects.filter(pk=read.pk).update(read_at=timezone.now())

    dashboard = owner_browser.get("/").content.decode()
    badge = owner_browser.get(reverse("pipelines:notification-badge"), **htmx()).content.decode()
    menu = owner_browser.get(reverse("pipelines:notification-menu"), **htmx()).content.decode()
    assert '<span class="stat" id="unread-stat">31</span> unread notifications' in dashboard
    assert 'data-unread="31"' in badge
    assert "31 unread" in menu


def test_it_opens_the_bell_dropdown_with_the_latest_notifications(owner_browser, owner, other_user):
    old = notification_create(user=owner, message="the oldest one")
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    for n in range(7):
        notification_create(user=owner, message=f"fresh {n}", title=f"Deployment {n} is running", link="/deployments/")
    notification_create(user=other_user, message="someone else's")

    page = owner_browser.get("/").content.decode()
    assert '<details class="bell-menu">' in page
    assert 'hx-get="/notifications/menu"' in page
    assert "toggle from:closest details" in page
    response = owner_browser.get(reverse("pipelines:notification-menu"), **htmx())
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<li class="note') == 6  # the latest six, newest first
    assert "Deployment 6 is running" in html
    assert "the oldest one" not in html
    assert "someone else" not in html
    assert 'hx-post="/notifications/read-all"' in html
    assert "Mark all read" in html
    assert 'href="/notifications/">All notifications' in html
    # Relative times carry the absolute time, with its zone, on hover.
    assert re.search(r'<time datetime="[^"]+" title="\d+ \w+ \d{4}, \d\d:\d\d:\d\d UTC">', html)


def test_it_marks_all_read_from_the_dropdown_and_refreshes_bell_and_dropdown(owner_browser, owner):
    for n in range(3):
        notification_create(user=owner, message=f"note {n}")
    response = owner_browser.post(reverse("pipelines:notification-read-all"), **htmx())
    assert response.status_code == 200
    assert response["HX-Trigger"] == "notifications-changed"
    assert not Notification.objects.filter(user=owner, read_at=None).exists()
    menu = owner_browser.get(reverse("pipelines:notification-menu"), **htmx()).content.decode()
    assert "Mark all read" not in menu
    assert "unread" not in menu.split("</strong>", 1)[1].split("</div>", 1)[0]


def test_it_keeps_the_dropdown_to_its_owner(client, other_browser, owner):
    notification_create(user=owner, message="private note")
    assert "private note" not in other_browser.get(reverse("pipelines:notification-menu")).content.decode()
    assert client.get(reverse("pipelines:notification-menu")).status_code == 302  # to the login page
