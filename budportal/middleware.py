"""The portal's own "page not found", whatever ``DEBUG`` says.

The portal runs with ``DEBUG`` on by default (``scripts/portal.sh``), and with it Django answers an unknown URL
with its technical 404 page, which lists every URL pattern of the project: a map of the portal for anyone who
types a wrong address. Django consults ``handler404`` only with ``DEBUG`` off, so this middleware puts the
branded page (``templates/404.html``) in front of both kinds of 404: an address no pattern matches, and a page
view raising ``Http404`` (a stranger's deployment). The JSON API keeps JSON answers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 404 answer for ``request``: JSON under ``/api/``, the branded page everywhere else."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not Found"}, status=404)
    return defaults.page_not_found(request, exception or Http404())


class BrandedNotFoundMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # No view matched (resolver_match stays None): with DEBUG on, this is Django's technical 404.
        # Listed before CommonMiddleware, so its APPEND_SLASH redirect ("/templates" → "/templates/") comes first.
        if settings.DEBUG and response.status_code == 404 and getattr(request, "resolver_match", None) is None:
            return not_found(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404):
            return not_found(request, exception)
        return None
