"""Portal pages of the pipelines app: the notifications list and the bell's unread count."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from pipelines import notifications, selectors
from pipelines.filters import NotificationFilter
from pipelines.listing import list_page

MENU_SIZE = 6  # the bell's dropdown


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """The user's notifications, paged and filtered (``unread``, ``level``, ``q``) like the API."""
    listing = list_page(NotificationFilter, request, selectors.notification_list(user=request.user))
    context = {"notifications": listing.page.items, "listing": listing, "filters": listing.filterset.form.data}
    return render(request, "pipelines/notification_list.html", context)


@login_required
@require_GET
def notification_badge(request: HttpRequest) -> HttpResponse:
    """The bell's unread count; the page polls it every 10 s and after any change."""
    return _badge(request)


@login_required
@require_GET
def notification_menu(request: HttpRequest) -> HttpResponse:
    """The bell's dropdown: the latest notifications and "Mark all read", loaded when the bell opens."""
    context = {
        "notifications": selectors.notification_list(user=request.user)[:MENU_SIZE],
        "unread": selectors.notification_unread_count(user=request.user),
    }
    return render(request, "pipelines/partials/notification_menu.html", context)


def _badge(request: HttpRequest) -> HttpResponse:
    unread = selectors.notification_unread_count(user=request.user)
    return render(request, "pipelines/partials/notification_badge.html", {"unread": unread})


def _back(request: HttpRequest, note_link: str = "") -> HttpResponse:
    if request.htmx:
        response = _badge(request)
        response["HX-Trigger"] = "notifications-changed"
        return response
    return redirect(note_link or "pipelines:notification-list")


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one notification read; with ``open=1`` go on to the page it links to."""
    note = selectors.notification_get(user=request.user, notification_id=notification_id)
    notifications.notification_mark_read(notification=note)
    link = note.link if request.POST.get("open") and note.link.startswith("/") else ""
    return _back(request, link)


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notifications.notification_mark_all_read(user=request.user)
    return _back(request)
