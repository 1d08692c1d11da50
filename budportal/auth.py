"""API authentication: the browser session (with CSRF) or ``Authorization: Bearer <token>``."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
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


class BearerTokenAuth(HttpBearer):
    """A valid token always authenticates: the limiter counts failures only and answers 429 instead of 401 once
    an address has failed too often. Tokens carry 256 random bits, so the limit is there to turn scanners away
    (and flag them), not to protect a guessable secret; refusing valid tokens would let one bad client behind
    a shared proxy lock out everyone else behind it."""

    def authenticate(self, request: HttpRequest, token: str):
        api_token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
        if api_token is None or api_token.is_expired() or not api_token.user.is_active:
            if _count_failure(request) > settings.API_TOKEN_FAILURES_PER_MINUTE:
                raise TokenRateLimited()
            return None
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
            # At most one write a minute per token: a write on every API call serialises readers on SQLite.
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        request.user = api_token.user
        return api_token.user


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
