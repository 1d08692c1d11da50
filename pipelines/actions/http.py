"""Shared HTTP helpers for actions: URL checks, and an opener whose connections pass the outbound guard
(``pipelines.outbound``) and whose redirects never leave the original host."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from pipelines import outbound


def check_url(url: str) -> str | None:
    """Why ``url`` may not be fetched, or None. Only absolute http(s) URLs with a host; a host written as a
    non-public address is refused here already (names are resolved and checked when the request is made)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "the URL is not valid"
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs are allowed"
    if not parts.hostname:
        return "the URL needs a host"
    return outbound.numeric_host_refusal(parts.hostname)


def guarded_opener() -> urllib.request.OpenerDirector:
    return outbound.build_opener(NoCrossHostRedirects())


class RedirectRefused(urllib.error.URLError):
    """A redirect pointed at another scheme, host or port."""


class NoCrossHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if (new.scheme, new.hostname, new.port) != (old.scheme, old.hostname, old.port):
            raise RedirectRefused(f"redirect to another host refused: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)
