import pytest
from django.urls import reverse

from pipelines.models import Notification
from pipelines.notifications import notification_create
from tests.pages.conftest import htmx

pytestmark = pytest.mark.django_db


@pytest.fixture
def note(owner):
    return notification_create(
        user=owner, message="Deployment x is running", level="success", title="x", link="/deployments/"
    )


def test_it_counts_unread_notifications_in_the_bell(owner_browser, note, other_user):
    notification_create(user=other_user, message="not yours")
    html = owner_browser.get(reverse("pipelines:notification-badge"), **htmx()).content.decode()
    assert 'data-unread="1"' in html


def test_it_polls_the_bell_from_every_page(owner_browser):
    html = owner_browser.get("/").content.decode()
    assert 'hx-get="/notifications/badge"' in html
    assert "every 10s" in html


def test_it_lists_and_marks_notifications_read(owner_browser, note):
    assert "Deployment x is running" in owner_browser.get(reverse("pipelines:notification-list")).content.decode()
    response = owner_browser.post(reverse("pipelines:notification-read", args=[note.pk]), **htmx())
    assert response.status_code == 200
    assert response["HX-Trigger"] == "notifications-changed"
    assert 'data-unread="0"' in response.content.decode()
    note.refresh_from_db()
    assert note.read_at is not None


def test_it_opens_the_link_of_a_notification(owner_browser, note):
    response = owner_browser.post(reverse("pipelines:notification-read", args=[note.pk]), {"open": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/deployments/"
    note.refresh_from_db()
    assert note.read_at is not None  # opened is read


def test_it_marks_all_read(owner_browser, note, owner):
    notification_create(user=owner, message="second")
    owner_browser.post(reverse("pipelines:notification-read-all"))
    assert not Notification.objects.filter(user=owner, read_at=None).exists()


def test_it_does_not_let_another_user_touch_a_notification(other_browser, note):
    assert other_browser.post(reverse("pipelines:notification-read", args=[note.pk])).status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_it_enforces_csrf_when_marking_read(csrf_browser, note):
    assert csrf_browser.post(reverse("pipelines:notification-read", args=[note.pk])).status_code == 403
    note.refresh_from_db()
    assert note.read_at is None
