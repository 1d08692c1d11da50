"""API bearer tokens on the Server-Sent Events streams, so an API client can follow a deployment live.

The streams are Channels consumers, outside Django's views and django-ninja, so they only knew the session
user. This middleware runs the API's own token check (``budportal.auth.BearerTokenAuth``: hashing, expiry,
inactive users, the failed-attempt limit per address) on a Django request built from the ASGI scope, and puts
the token's user in ``scope["user"]``. The consumer then scopes the object to that user exactly as for a
browser: another user's token gets 404. A session user is kept as is.
"""

from __future__ import annotations

import io
from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.core.handlers.asgi import ASGIRequest

from budportal.auth import BearerTokenAuth, TokenRateLimited


def _token_user(scope: dict[str, Any]) -> Any | None:
    return BearerTokenAuth()(ASGIRequest(scope, io.BytesIO()))


async def _too_many_attempts(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [(b"content-type", b"text/plain"), (b"retry-after", b"60")],
        }
    )
    await send({"type": "http.response.body", "body": b"Too many failed token attempts; retry later."})


class BearerTokenMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = scope.get("user")
        has_authorization = any(name == b"authorization" for name, _ in scope.get("headers", []))
        if has_authorization and not (user is not None and user.is_authenticated):
            try:
                token_user = await database_sync_to_async(_token_user)(scope)
            except TokenRateLimited:
                return await _too_many_attempts(send)
            if token_user is not None:
                scope = dict(scope, user=token_user)
        return await super().__call__(scope, receive, send)
