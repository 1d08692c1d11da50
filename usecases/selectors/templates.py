"""Reads for use-case templates, always scoped to what the user may see."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404

from usecases.models import UseCaseTemplate


def template_visible_qs(*, user: User) -> QuerySet[UseCaseTemplate]:
    """System and public templates plus the user's own; staff see every template."""
    qs = UseCaseTemplate.objects.select_related("owner")
    if user.is_staff:
        return qs
    return qs.filter(
        Q(source=UseCaseTemplate.Source.SYSTEM) | Q(visibility=UseCaseTemplate.Visibility.PUBLIC) | Q(owner=user)
    )


def template_list(
    *,
    user: User,
    category: str | None = None,
    tag: str | None = None,
    source: str | None = None,
    q: str | None = None,
) -> list[UseCaseTemplate]:
    qs = template_visible_qs(user=user)
    if category:
        qs = qs.filter(category=category)
    if source:
        qs = qs.filter(source=source)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(display_name__icontains=q) | Q(description__icontains=q))
    if tag and connection.features.supports_json_field_contains:
        qs = qs.filter(tags__contains=[tag])
    templates = list(qs)
    if tag and not connection.features.supports_json_field_contains:
        # SQLite has no JSON containment lookup; template lists are small, so filter here.
        templates = [t for t in templates if tag in t.tags]
    return templates


def template_get(*, user: User, name: str) -> UseCaseTemplate:
    """A template the user may see; anything else (including someone else's private one) is a 404."""
    template = template_visible_qs(user=user).filter(name=name).first()
    if template is None:
        raise Http404(f"No template named '{name}'.")
    return template


def template_get_for_edit(*, user: User, name: str) -> UseCaseTemplate:
    """A template the user may change: their own (staff: any custom one). System templates are returned so
    the service can answer 403; someone else's template is a 404, even when it is public."""
    template = template_get(user=user, name=name)
    if not template.is_system and not user.is_staff and template.owner_id != user.pk:
        raise Http404(f"No template named '{name}'.")
    return template
