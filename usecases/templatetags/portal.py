"""Template helpers for the portal pages: highlighted YAML with Jinja references, status icons, error paths."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from budportal.errors import dotted

register = template.Library()

_JINJA = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})")
_KEY = re.compile(r"^(\s*(?:- )?)([^\s:#'\"][^:#]*?|'[^']*'|\"[^\"]*\")(:)(?=\s|$)", re.MULTILINE)
_PLACEHOLDER = re.compile(r"(&lt;[a-z_][a-z0-9_]*\.[a-z_]+&gt;)")
_COMMENT = re.compile(r"^(\s*#.*)$", re.MULTILINE)

# Status → (icon, css class, words for screen readers). Deployments and components are lowercase, steps upper.
_STATUS = {
    "pending": ("○", "pending", "pending"),
    "waiting": ("○", "pending", "waiting for an earlier wave"),
    "uninstalling": ("◐", "active", "uninstalling"),
    "uninstalled": ("■", "muted", "uninstalled"),
    "deploying": ("◐", "active", "deploying"),
    "running": ("●", "ok", "running"),
    "failed": ("✕", "bad", "failed"),
    "stopping": ("◐", "active", "stopping"),
    "stopped": ("■", "muted", "stopped"),
    "deleting": ("◐", "active", "deleting"),
    "awaiting_event": ("◐", "active", "running"),
    "completed": ("✓", "ok", "completed"),
    "skipped": ("↷", "muted", "skipped"),
    "cancelled": ("■", "muted", "cancelled"),
    "timeout": ("⏱", "bad", "timed out"),
}


def highlight_text(text: str) -> SafeString:
    """Escape ``text`` (YAML) and mark keys, comments and Jinja expressions with spans."""
    html = escape(text)
    html = _COMMENT.sub(r'<span class="y-comment">\1</span>', html)
    html = _KEY.sub(r'\1<span class="y-key">\2</span>\3', html)
    html = _JINJA.sub(r'<mark class="jinja">\1</mark>', html)
    html = _PLACEHOLDER.sub(r'<mark class="jinja placeholder">\1</mark>', html)
    return mark_safe(html)  # noqa: S308 - built from escaped text only


def to_yaml(value: Any) -> str:
    if value in (None, {}, []):
        return "{}\n" if isinstance(value, dict) or value is None else "[]\n"
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


@register.filter
def yaml_highlight(value: Any) -> SafeString:
    """A value shown as YAML with Jinja references standing out (``<mark class="jinja">``)."""
    return highlight_text(to_yaml(value))


@register.filter
def json_pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.filter
def status_class(status: str | None) -> str:
    return _STATUS.get(str(status or "").lower(), ("?", "muted", ""))[1]


@register.inclusion_tag("partials/status_badge.html")
def status_badge(status: str | None, label: str = "") -> dict[str, str]:
    key = str(status or "").lower()
    icon, css, words = _STATUS.get(key, ("?", "muted", key or "unknown"))
    return {"icon": icon, "css": css, "words": label or words, "status": key}


@register.filter
def loc_path(loc: list[str | int]) -> str:
    return dotted(loc)


@register.filter
def duration(seconds: float | int | None) -> str:
    """``75`` → ``1 min 15 s``; None → an em dash."""
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@register.filter
def get_item(mapping: dict | None, key: Any) -> Any:
    return (mapping or {}).get(key, "")
