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


def template_resolve(*, user: User, name: str) -> UseCaseTemplate | None:
    """The template ``name`` means to ``user``; None when it names nothing they may see.

    Names are unique per owner, so one name can mean several templates. Every lookup by name (API, pages,
    deployment create) resolves the same way (docs/architecture.md, "Template names"):

    1. the user's own template of that name (it shadows the others);
    2. the ownerless one: the system (catalog) template;
    3. another user's template the user may see (public; staff: any), only when exactly one has that name
       (several are ambiguous, and picking one would let a newcomer hijack the name): use its id instead.

    Someone else's private template never resolves (for staff it does), so names cannot be probed.
    """
    candidates = list(template_visible_qs(user=user).filter(name=name)[:50])
    own = [t for t in candidates if t.owner_id == user.pk]
    if own:
        return own[0]
    ownerless = [t for t in candidates if t.owner_id is None]
    if ownerless:
        return ownerless[0]
    return candidates[0] if len(candidates) == 1 else None


def template_get(*, user: User, name: str) -> UseCaseTemplate:
    """A template the user may see, resolved by name (``template_resolve``); anything else is a 404."""
    template = template_resolve(user=user, name=name)
    if template is None:
        raise Http404(f"No template named '{name}'.")
    return template


def template_get_by_id(*, user: User, template_id: int) -> UseCaseTemplate:
    """A template the user may see, by id; someone else's private one is a 404, as a missing one."""
    template = template_visible_qs(user=user).filter(pk=template_id).first()
    if template is None:
        raise Http404(f"No template {template_id}.")
    return template


def _editable(*, user: User, template: UseCaseTemplate, label: str) -> UseCaseTemplate:
    # System templates are returned so the service can answer 403; someone else's is a 404, even public.
    if not template.is_system and not user.is_staff and template.owner_id != user.pk:
        raise Http404(f"No template {label}.")
    return template


def template_get_for_edit(*, user: User, name: str) -> UseCaseTemplate:
    """A template the user may change, by name: their own (staff: any custom one)."""
    return _editable(user=user, template=template_get(user=user, name=name), label=f"named '{name}'")


def template_get_for_edit_by_id(*, user: User, template_id: int) -> UseCaseTemplate:
    """A template the user may change, by id: their own (staff: any custom one)."""
    template = template_get_by_id(user=user, template_id=template_id)
    return _editable(user=user, template=template, label=str(template_id))
