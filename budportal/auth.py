"""API authentication: the browser session (with CSRF) or ``Authorization: Bearer <token>``."""

import copy
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from budportal.client_ip import client_ip
from budportal.models import ApiToken, hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)
FAILURE_WINDOW_SECONDS = 60


class TokenRateLimited(Exception):
    pass


def _failure_key(request: HttpRequest) -> str:
    return f"token-failures:{client_ip(request) or 'unknown'}"


def _count_failure(request: HttpRequest) -> int:
    key = _failure_key(request)
    cache.add(key, 0, timeout=FAILURE_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=FAILURE_WINDOW_SECONDS)
        return 1


def has_bearer_header(request: HttpRequest) -> bool:
    return request.headers.get("Authorization", "").split(" ", 1)[0].lower() == "bearer"


@dataclass
class _Valid:
    """A token found valid, and its user as read then: what a request needs without asking the database."""

    token_pk: int
    user: Any
    expires_at: datetime | None
    last_used_at: datetime | None
    read_at: float  # time.monotonic()


class TokenCache:
    """token hash → the valid token's user, for ``API_TOKEN_CACHE_SECONDS`` in this process.

    The token lookup was a quarter of an API request's cost (tests/bench/README.md). Only valid tokens are kept
    (a bad one is looked up every time, so the failure limiter sees it). Revoking a token (deleting it, moving
    its expiry) or deactivating its user drops the entry of this process at once (signals below); other web
    processes notice on their next read, at most ``API_TOKEN_CACHE_SECONDS`` later. An expiry date that passes
    is checked on every request, cached or not.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[str, _Valid] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> _Valid | None:
        ttl = settings.API_TOKEN_CACHE_SECONDS
        entry = self._entries.get(token_hash)
        if entry is None or ttl <= 0 or time.monotonic() - entry.read_at >= ttl:
            return None
        return entry

    def put(self, token_hash: str, entry: _Valid) -> None:
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:  # a bound, not an LRU: refilling costs one query each
                self._entries.clear()
            self._entries[token_hash] = entry

    def forget(self, *, token_pk: int | None = None, user_pk: int | None = None) -> None:
        with self._lock:
            for key, entry in list(self._entries.items()):
                if entry.token_pk == token_pk or entry.user.pk == user_pk:
                    del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = TokenCache()


def _forget_token(sender: type, instance: ApiToken, **kwargs: Any) -> None:
    token_cache.forget(token_pk=instance.pk)


def _forget_user(sender: type, instance: Any, **kwargs: Any) -> None:
    token_cache.forget(user_pk=instance.pk)


post_save.connect(_forget_token, sender=ApiToken, dispatch_uid="budportal.auth.forget_token_saved")
post_delete.connect(_forget_token, sender=ApiToken, dispatch_uid="budportal.auth.forget_token_deleted")
post_save.connect(_forget_user, sender=get_user_model(), dispatch_uid="budportal.auth.forget_user_saved")
post_delete.connect(_forget_user, sender=get_user_model(), dispatch_uid="budportal.auth.forget_user_deleted")


def _lookup(token_hash: str) -> _Valid | None:
    entry = token_cache.get(token_hash)
    if entry is None:
        api_token = ApiToken.objects.select_related("user").filter(token_hash=token_hash).first()
        if api_token is None or not api_token.user.is_active:
            return None
        entry = _Valid(api_token.pk, api_token.user, api_token.expires_at, api_token.last_used_at, time.monotonic())
        token_cache.put(token_hash, entry)
    if entry.expires_at is not None and entry.expires_at <= timezone.now():
        return None
    return entry


class BearerTokenAuth(HttpBearer):
    """A valid token always authenticates: the limiter counts failures only and answers 429 instead of 401 once
    an address has failed too often. Tokens carry 256 random bits, so the limit is there to turn scanners away
    (and flag them), not to protect a guessable secret; refusing valid tokens would let one bad client behind
    a shared proxy lock out everyone else behind it."""

    def authenticate(self, request: HttpRequest, token: str):
        entry = _lookup(hash_token(token))
        if entry is None:
            if _count_failure(request) > settings.API_TOKEN_FAILURES_PER_MINUTE:
                raise TokenRateLimited()
            return None
        now = timezone.now()
        if entry.last_used_at is None or now - entry.last_used_at > LAST_USED_RESOLUTION:
            # At most one write a minute per token: a write on every API call serialises readers on SQLite.
            ApiToken.objects.filter(pk=entry.token_pk).update(last_used_at=now)
            entry.last_used_at = now
        # Each request gets its own copy: a view that caches permissions on (or changes) its user must not
        # leak them into the next request.
        user = copy.copy(entry.user)
        request.user = user
        return user


class SessionUserAuth(SessionAuth):
    """Session auth that also accepts an active user (ninja's default checks ``is_authenticated`` only)."""

    def _get_key(self, request: HttpRequest):
        # A request that carries a bearer token is authenticated by that token alone: a leftover sessionid
        # cookie must neither demand a CSRF token ("403 CSRF check Failed") nor stand in for a bad token.
        # Without a session cookie this auth cannot apply either (a plain token client sends no cookies).
        if has_bearer_header(request) or self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key):
        if key is None:
            return None
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


api_auth = [SessionUserAuth(), BearerTokenAuth()]
