"""API authentication: the browser session (with CSRF) or ``Authorization: Bearer <token>``."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from budportal.models import ApiToken, hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenRateLimited(Exception):
    pass


def _failure_key(request: HttpRequest) -> str:
    return f"token-failures:{request.META.get('REMOTE_ADDR', '?')}"


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        key = _failure_key(request)
        if cache.get(key, 0) >= settings.API_TOKEN_FAILURES_PER_MINUTE:
            # Guessing tokens from one address is slowed to a crawl; the limit resets after a minute.
            raise TokenRateLimited()
        api_token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
        if api_token is None or api_token.is_expired() or not api_token.user.is_active:
            cache.add(key, 0, timeout=60)
            cache.incr(key)
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
        # Without a session cookie this auth cannot apply: skip its CSRF check, so a bearer-token client
        # (no cookies) reaches BearerTokenAuth instead of getting "403 CSRF check Failed" on every POST.
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key):
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


api_auth = [SessionUserAuth(), BearerTokenAuth()]
