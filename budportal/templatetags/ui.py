"""Small presentation helpers shared by every page: ``{% load ui %}``."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from clusterjobs.failures import FailureKind, explain

register = template.Library()

ABSOLUTE = "j M Y, H:i:s T"  # 30 Nov 2026, 09:45:12 UTC: the zone is always named


@register.filter
def absolute_time(value: datetime | None) -> str:
    """The date and time with its time zone (the portal's ``TIME_ZONE``)."""
    if not isinstance(value, datetime):
        return ""
    return date_format(timezone.localtime(value) if timezone.is_aware(value) else value, ABSOLUTE)


@register.filter
def reltime(value: datetime | None) -> SafeString | str:
    """``<time>`` showing "5 minutes ago", with the absolute time on hover and as machine-readable datetime."""
    if not isinstance(value, datetime):
        return ""
    return format_html(
        '<time datetime="{}" title="{}">{} ago</time>', value.isoformat(), absolute_time(value), timesince(value)
    )


CLUSTER_DOMAIN = ".svc.cluster.local"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@register.filter
def endpoint(url: str | None) -> dict[str, str | bool]:
    """How to show an endpoint: a link only when a browser can reach it.

    ``http://<svc>.<ns>.svc.cluster.local:<port>`` resolves inside the cluster only, so it becomes copyable
    text with the ``kubectl port-forward`` that reaches it from the user's machine. Anything that is not
    http(s) is never a link (the URL comes from a chart's Services, i.e. from user input).
    """
    parsed = urlsplit(url or "")
    host = parsed.hostname or ""
    info: dict[str, str | bool] = {"url": url or "", "link": False, "internal": False, "port_forward": ""}
    if host.endswith(CLUSTER_DOMAIN):
        service, _, namespace = host.removesuffix(CLUSTER_DOMAIN).partition(".")
        if not (_DNS_LABEL.fullmatch(service) and _DNS_LABEL.fullmatch(namespace)):
            return info  # not a Service name kubectl would take: plain text, no command to copy
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError:
            port = 80
        local = port if port >= 1024 else 8080  # binding below 1024 needs root on the user's machine
        info.update(
            internal=True,
            local_url=f"{parsed.scheme or 'http'}://127.0.0.1:{local}",
            port_forward=f"kubectl port-forward -n {namespace or 'default'} svc/{service} {local}:{port}",
        )
    elif parsed.scheme in ("http", "https") and host:
        info["link"] = True
    return info


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[_\-.\s]+")


@register.filter
def humanize_name(name: str | None) -> str:
    """``chunk_size`` / ``replicaCount`` / ``top-k`` → "Chunk size" / "Replica count" / "Top k": a label for a name."""
    words = [w for w in _WORD_BOUNDARY.split(str(name or "")) if w]
    if not words:
        return ""
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)  # keeps "GPU", "URL"
    return text[0].upper() + text[1:]


@register.inclusion_tag("partials/failure.html")
def failure(text: str, extra: str = "") -> dict[str, object]:
    """A failure as a person reads it: the one-line cause first, the raw Helm/kubectl output folded below
    (``extra``: more raw output, e.g. the job's whole Helm error behind a step's shorter one)."""
    explained = explain(text or extra)
    if extra and explained.kind == FailureKind.OTHER and (deeper := explain(extra)).kind != FailureKind.OTHER:
        explained = deeper  # "helm install of x failed" says less than the Helm output behind it
    parts = [(text or "").strip(), (extra or "").strip()]
    raw = "\n\n".join(dict.fromkeys(p for p in parts if p))
    return {"failure": explained, "raw": raw if raw != explained.cause else ""}
