"""Django's ASGI handler with each request's synchronous work done in one hop to a fixed pool of threads.

Every middleware and view of the portal is synchronous code. Django's own ASGI handler keeps the middleware
chain in async mode (two hand-offs to a thread and back per middleware), sends ``request_started`` and closes
the response through further hand-offs, and gives every request a new thread (``ThreadSensitiveContext``):
together they cost more CPU than the API request itself (tests/bench/README.md, web tier). Here the body is read
on the event loop, then one call on a long-lived thread of ``WEB_THREADS`` does what a WSGI server's thread
would: ``request_started``, the middleware chain and view in sync mode, and, for an ordinary response, its
``close()`` (``request_finished``: the thread's database connection goes back to the pool before the bytes are
sent). Only streaming responses are sent piece by piece and closed afterwards, on the same pool.

The pool is as large as the database connection pool (``DATABASE_POOL_SIZE``), so a request thread never waits
for a connection that another of this process's threads holds. The SSE streams are channels consumers, not
Django views: they do not go through here.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpResponseBase
from django.urls import set_script_prefix

from budportal.metrics import ROUTE_KEY


class PooledSyncASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.executor = ThreadPoolExecutor(max_workers=settings.WEB_THREADS, thread_name_prefix="request")

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.executor, self._respond, loop, scope, body_file)
            await self.send_response(response, send)
            if response.streaming:
                await loop.run_in_executor(self.executor, response.close)
        finally:
            body_file.close()

    def _respond(self, loop: asyncio.AbstractEventLoop, scope: dict, body_file: Any) -> HttpResponseBase:
        # What SyncToAsync sets in its threads: async_to_sync called by a view then runs on this process's loop.
        SyncToAsync.threadlocal.main_event_loop = loop
        SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            response: Any = error_response  # a malformed request: Django's 400
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if request.resolver_match is not None:
                scope[ROUTE_KEY] = request.resolver_match.route or request.resolver_match.view_name
        if not response.streaming:
            response.close()
        return response
