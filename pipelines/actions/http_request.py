"""``http_request``: one HTTP call with a bounded timeout; redirects only within the same host."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from pipelines import outbound
from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ParamSpec
from pipelines.actions.http import check_url, guarded_opener
from pipelines.actions.registry import register

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_TIMEOUT_SECONDS = 60
MAX_BODY_BYTES = 1024 * 1024


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, dict | list):
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode()
    return str(body).encode()


def _decode(raw: bytes, content_type: str) -> tuple[str, Any]:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return text, json.loads(text)
        except ValueError:
            pass
    return text, None


@register
class HttpRequestAction(Action):
    meta = ActionMeta(
        type="http_request",
        name="HTTP request",
        description=f"Calls an http(s) URL (timeout ≤ {MAX_TIMEOUT_SECONDS} s, no redirects to other hosts).",
        category="Integration",
        params=(
            ParamSpec("url", "string", required=True),
            ParamSpec("method", "string", default="GET"),
            ParamSpec("headers", "object", default={}),
            ParamSpec("body", "any", description="A string, or an object sent as JSON."),
            ParamSpec("timeout_seconds", "integer", default=10),
            ParamSpec("fail_on_status", "boolean", default=True, description="Fail the step on HTTP ≥ 400."),
        ),
        outputs=("status_code", "body", "json", "headers"),
        timeout_seconds=MAX_TIMEOUT_SECONDS + 10,
        idempotent=False,
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        url = params.get("url")
        if isinstance(url, str) and "{{" not in url and (problem := check_url(url)):
            errors.append(f"url: {problem}")
        if str(params.get("method", "GET")).upper() not in METHODS:
            errors.append(f"method: must be one of {', '.join(METHODS)}")
        if not isinstance(params.get("headers", {}), dict):
            errors.append("headers: must be an object")
        timeout = params.get("timeout_seconds", 10)
        if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            errors.append(f"timeout_seconds: must be from 1 to {MAX_TIMEOUT_SECONDS}")
        return errors

    def execute(self, ctx: ActionContext) -> ActionResult:
        url = str(ctx.params["url"])
        if problem := check_url(url):
            return ActionResult(success=False, error=f"url: {problem}")
        headers = {str(k): str(v) for k, v in (ctx.params.get("headers") or {}).items()}
        data = _encode_body(ctx.params.get("body"), headers)
        method = str(ctx.params.get("method", "GET")).upper()
        timeout = min(float(ctx.params.get("timeout_seconds", 10)), MAX_TIMEOUT_SECONDS)
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with outbound.urlopen(guarded_opener(), request, timeout=timeout) as response:
                status, raw, resp_headers = response.status, response.read(MAX_BODY_BYTES), response.headers
        except urllib.error.HTTPError as exc:
            status, raw, resp_headers = exc.code, (exc.read(MAX_BODY_BYTES) if exc.fp else b""), exc.headers
        except outbound.OutboundRefused as exc:
            return ActionResult(success=False, error=f"url: {exc}")
        except (urllib.error.URLError, OSError) as exc:
            return ActionResult(success=False, error=f"request failed: {exc}")
        text, parsed = _decode(raw, (resp_headers or {}).get("Content-Type", ""))
        outputs = {"status_code": status, "body": text, "json": parsed, "headers": dict(resp_headers or {})}
        if status >= 400 and ctx.params.get("fail_on_status", True):
            return ActionResult(success=False, error=f"HTTP {status} from {url}", outputs=outputs)
        return ActionResult(success=True, outputs=outputs)
