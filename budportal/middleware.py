"""Request-wide guards that answer before (or instead of) a view.

- ``RequestSizeLimitMiddleware``: one 413 for every oversized body.
- ``BrandedNotFoundMiddleware``: the portal's own "page not found", whatever ``DEBUG`` says.
  The portal runs with ``DEBUG`` on by default (``scripts/portal.sh``), and with it Django answers an unknown URL
  with its technical 404 page, which lists every URL pattern of the project: a map of the portal for anyone who
  types a wrong address. Django consults ``handler404`` only with ``DEBUG`` off, so this middleware puts the
  branded page (``templates/404.html``) in front of both kinds of 404: an address no pattern matches, and a page
  view raising ``Http404`` (a stranger's deployment). The JSON API keeps JSON answers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults


def request_too_big(request: HttpRequest) -> HttpResponse:
    """413, as JSON under /api/ and as a short plain page elsewhere."""
    message = f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (MAX_REQUEST_BYTES)."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": [{"loc": ["body"], "msg": message}]}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class RequestSizeLimitMiddleware(MiddlewareMixin):
    """Refuse an oversized body by its Content-Length before anything reads it.

    Django raises ``RequestDataTooBig`` only when the body is read, and what becomes of it depends on who read
    it: a 400 from the CSRF middleware, a 500 traceback from django-ninja with DEBUG on. Deciding here, first,
    gives every path the same 413; ``process_exception`` catches bodies whose size was not declared.
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Django's own parsing decides what a malformed length means
        if declared > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return request_too_big(request)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return request_too_big(request) if isinstance(exception, RequestDataTooBig) else None


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
