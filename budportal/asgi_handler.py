"""Django's ASGI handler with the middleware chain run synchronously: one thread hop per request, not ~28.

Every middleware of the portal is synchronous code. Under ASGI Django keeps a chain of "async-capable"
``MiddlewareMixin`` middlewares in async mode and runs each one's ``process_request`` / ``process_response``
through ``sync_to_async``: two hand-offs to a thread and back per middleware, which cost more CPU than the
API request itself (tests/bench/README.md, 2026-11-30 web tier). Built in sync mode, the chain (middlewares,
URL resolution, the view) runs in one thread-sensitive call, as under WSGI; the request's thread is the same
one that closes its database connection at the end (``response.close`` is thread-sensitive too). Async views
still work: Django's sync path runs them with ``async_to_sync``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        handler: Any = self
        handler._middleware_chain = sync_to_async(handler._middleware_chain, thread_sensitive=True)
