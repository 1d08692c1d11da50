"""Writes of notifications: the bell and the notifications page read them, the ``notification`` action and
deployment status changes create them.

Kept apart from ``pipelines.services`` (executions) so an action can create notifications without importing the
engine that runs it.
"""

from __future__ import annotations

from django.utils import timezone

from budportal.errors import ServiceValidationError
from pipelines.models import Notification, NotificationLevel


def notification_create(
    *, user, message: str, level: str = NotificationLevel.INFO, link: str | None = None, title: str = ""
) -> Notification:
    if level not in NotificationLevel.values:
        raise ServiceValidationError.at(["level"], f"must be one of {', '.join(NotificationLevel.values)}")
    return Notification.objects.create(user=user, message=message, level=level, link=link or "", title=title[:200])


def notification_mark_read(*, notification: Notification) -> Notification:
    Notification.objects.filter(pk=notification.pk, read_at=None).update(read_at=timezone.now())
    notification.refresh_from_db()
    return notification


def notification_mark_all_read(*, user) -> int:
    """Mark every unread notification of ``user`` read with one UPDATE; returns how many changed."""
    return Notification.objects.filter(user=user, read_at=None).update(read_at=timezone.now())
