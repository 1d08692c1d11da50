"""Shared HTTP helpers for actions: URL checks and a redirect handler that never leaves the original host."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit


def check_url(url: str) -> str | None:
    """Why ``url`` may not be fetched, or None. Only absolute http(s) URLs with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs are allowed"
    if not parts.hostname:
        return "the URL needs a host"
    return None


class RedirectRefused(urllib.error.URLError):
    """A redirect pointed at another scheme, host or port."""


class NoCrossHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if (new.scheme, new.hostname, new.port) != (old.scheme, old.hostname, old.port):
            raise RedirectRefused(f"redirect to another host refused: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)
