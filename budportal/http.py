"""Request types for annotations: what django-ninja's auth and the middleware add to ``HttpRequest``.

Shared by every app (like ``budportal.errors``), so a view says what it may rely on and mypy checks it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class ApiRequest(HttpRequest):
    """A django-ninja request that passed ``api_auth`` (bearer token or session): ``auth`` is the user."""

    auth: User


class PageRequest(HttpRequest):
    """A page behind ``login_required``: ``user`` is a signed-in user; ``htmx`` is django-htmx's."""

    user: User  # narrower than HttpRequest's User | AnonymousUser: login_required guarantees it
    htmx: HtmxDetails
