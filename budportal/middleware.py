"""Request-wide guards that answer before a view runs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin


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
