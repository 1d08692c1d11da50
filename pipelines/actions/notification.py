"""``notification``: an in-app notification for a user, plus an optional webhook POST with retries."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model

from pipelines import outbound
from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.http import check_url, guarded_opener
from pipelines.actions.registry import register
from pipelines.models import NotificationLevel
from pipelines.notifications import notification_create

logger = logging.getLogger(__name__)
WEBHOOK_ATTEMPTS = 3


def _recipient(ctx: ActionContext):
    """The ``user_id`` param when it names the owner (or the owner is staff); otherwise the execution owner.

    A DAG submitted by one user must not be able to notify arbitrary other users.
    """
    User = get_user_model()
    owner = User.objects.filter(pk=ctx.owner_id).first()
    wanted = str(ctx.params.get("user_id") or "")
    if wanted.isdigit() and owner is not None and (owner.is_staff or int(wanted) == owner.pk):
        return User.objects.filter(pk=int(wanted), is_active=True).first() or owner
    return owner


def post_webhook(url: str, body: dict, attempts: int = WEBHOOK_ATTEMPTS) -> tuple[int | None, str]:
    """POST JSON with retries (0.5 s, 1 s backoff); returns (status code or None, error text)."""
    opener = guarded_opener()
    data = json.dumps(body).encode()
    error = ""
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with outbound.urlopen(opener, request, timeout=settings.NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS) as response:
                return response.status, ""
        except outbound.OutboundRefused as exc:
            return None, str(exc)  # retrying cannot change the answer
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code < 500:
                return exc.code, error
        except (urllib.error.URLError, OSError) as exc:
            error = str(exc)
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    return None, error


@register
class NotificationAction(Action):
    meta = ActionMeta(
        type="notification",
        name="Notify",
        description="Shows a notification to the execution owner (or `user_id`); optionally POSTs it to `webhook_url`.",
        category="Integration",
        params=(
            ParamSpec("message", "string", required=True),
            ParamSpec("level", "string", default="info", description="info, success, warning or error."),
            ParamSpec("title", "string"),
            ParamSpec("link", "string"),
            ParamSpec("user_id", "string", description="Recipient; defaults to the execution owner."),
            ParamSpec("webhook_url", "string", description="http(s) URL that receives the notification as JSON."),
        ),
        outputs=("notification_id", "webhook_status"),
        timeout_seconds=60,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        if params.get("level", "info") not in NotificationLevel.values:
            errors.append(f"level: must be one of {', '.join(NotificationLevel.values)}")
        url = params.get("webhook_url")
        if isinstance(url, str) and "{{" not in url and (problem := check_url(url)):
            errors.append(f"webhook_url: {problem}")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        user = _recipient(ctx)
        if user is None:
            return ActionResult(success=False, error="no user to notify")
        note = notification_create(
            user=user,
            message=str(ctx.params["message"]),
            level=ctx.params.get("level", "info"),
            link=ctx.params.get("link"),
            title=str(ctx.params.get("title") or ""),
        )
        outputs = {"notification_id": note.pk, "webhook_status": None}
        url = ctx.params.get("webhook_url")
        if url:
            if problem := check_url(url):
                return ActionResult(success=False, error=f"webhook_url: {problem}", outputs=outputs)
            body = {
                "message": note.message,
                "level": note.level,
                "title": note.title,
                "link": note.link,
                "execution_id": ctx.execution_id,
                "step_id": ctx.step_id,
            }
            status, error = post_webhook(url, body)
            outputs["webhook_status"] = status
            if status is None or status >= 400:
                return ActionResult(success=False, error=f"webhook failed: {error}", outputs=outputs)
        return ActionResult(success=True, outputs=outputs)
