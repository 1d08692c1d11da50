"""Small presentation helpers shared by every page: ``{% load ui %}``."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

register = template.Library()

ABSOLUTE = "j M Y, H:i:s T"  # 30 Nov 2026, 09:45:12 UTC: the zone is always named


@register.filter
def absolute_time(value: datetime | None) -> str:
    """The date and time with its time zone (the portal's ``TIME_ZONE``)."""
    if value is None:
        return ""
    return date_format(timezone.localtime(value), ABSOLUTE)


@register.filter
def reltime(value: datetime | None) -> SafeString | str:
    """``<time>`` showing "5 minutes ago", with the absolute time on hover and as machine-readable datetime."""
    if value is None:
        return ""
    return format_html('<time datetime="{}" title="{}">{} ago</time>', value.isoformat(), absolute_time(value),
                       timesince(value))
