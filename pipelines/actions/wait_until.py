"""``wait_until``: poll a condition until it holds, or fail at a deadline, without holding a worker.

Each check evaluates the bare ``condition`` (sandboxed, in the render pool) with ``attempt``,
``elapsed_seconds`` and, when ``url`` is given, ``response`` ({status_code, json, body},
fetched through ``pipelines.outbound`` like ``http_request``) in scope. When it does not hold yet the step
waits for an event (AWAITING_EVENT) and a one-off django-q2 Schedule publishes a ``wait_until_tick`` event
on ``budpipelineEvents`` after ``interval_seconds``; the step router hands it to ``on_event``, which checks
again and re-schedules. No worker sleeps; the step's deadline (the sweep) is the backstop.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from pipelines import outbound
from pipelines.actions.base import (
    Action,
    ActionContext,
    ActionMeta,
    ActionResult,
    EventAction,
    EventContext,
    EventResult,
    ExecutionMode,
    OutputSpec,
    ParamSpec,
)
from pipelines.actions.expressions import RenderError, evaluate, expression_errors, truthy
from pipelines.actions.http import check_url, guarded_opener
from pipelines.actions.registry import register
from pipelines.events import JOB_EVENTS_TOPIC, publish
from pipelines.models import StepStatus

TICK_EVENT = "wait_until_tick"
# Re-checks run from an event, outside the DAG's scope: values from it go into ``url`` ({{ }}, rendered once).
SCOPE = frozenset({"response", "attempt", "elapsed_seconds"})
MIN_INTERVAL, MAX_INTERVAL = 1, 3600
MAX_TIMEOUT = 24 * 3600
FETCH_TIMEOUT_SECONDS = 10
MAX_BODY_BYTES = 256 * 1024


def _number(params: dict, name: str, default: float, low: float, high: float) -> list[str]:
    value = params.get(name, default)
    if isinstance(value, str) and "{{" in value:
        return []
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return [f"{name}: must be a number from {low:g} to {high:g}"]
    return []


def _fetch(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, method="GET")
    try:
        with outbound.urlopen(guarded_opener(), request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            status, raw = response.status, response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, (exc.read(MAX_BODY_BYTES) if exc.fp else b"")
    except (urllib.error.URLError, OSError) as exc:  # OutboundRefused included: the condition sees no answer
        return {"status_code": 0, "json": None, "body": "", "error": str(exc)}
    body = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return {"status_code": status, "json": parsed, "body": body}


def tick(*, workflow_id: str, started_at: float, attempt: int, execution_id: str, step_id: str) -> None:
    """The scheduled re-check: an event the step router delivers to the waiting step's ``on_event``."""
    payload = {"workflow_id": workflow_id, "started_at": started_at, "attempt": attempt}
    with transaction.atomic():
        publish(JOB_EVENTS_TOPIC, TICK_EVENT, payload, execution_id=execution_id, step_id=step_id)


def _schedule(*, params: dict, workflow_id: str, started_at: float, attempt: int, execution_id: str, step_id: str):
    interval = float(params.get("interval_seconds", 10))
    Schedule.objects.create(
        name=workflow_id[:100],
        func="pipelines.actions.wait_until.tick",
        kwargs={
            "workflow_id": workflow_id,
            "started_at": started_at,
            "attempt": attempt,
            "execution_id": execution_id,
            "step_id": step_id,
        },
        schedule_type=Schedule.ONCE,
        repeats=-1,  # django-q2 deletes a ONCE schedule with negative repeats after it ran
        next_run=timezone.now() + timedelta(seconds=interval),
    )


@register
class WaitUntilAction(Action):
    meta = ActionMeta(
        type="wait_until",
        name="Wait until",
        description="Re-checks `condition` every `interval_seconds` until it holds; fails after `timeout_seconds`.",
        category="Control flow",
        params=(
            ParamSpec("condition", "string", required=True, description="Bare Jinja, e.g. response.status_code == 200"),
            ParamSpec("url", "string", description="http(s) URL fetched (GET) before each check, as `response`"),
            ParamSpec("interval_seconds", "float", default=10, description=f"{MIN_INTERVAL} to {MAX_INTERVAL}"),
            ParamSpec("timeout_seconds", "float", default=300, description=f"Give up after this (≤ {MAX_TIMEOUT})"),
        ),
        outputs=(
            OutputSpec("met", "boolean"),
            OutputSpec("attempts", "integer"),
            OutputSpec("elapsed_seconds", "float"),
            OutputSpec("response", "object", "The last response when `url` is given"),
        ),
        execution_mode=ExecutionMode.EVENT_DRIVEN,
        timeout_seconds=MAX_TIMEOUT + MAX_INTERVAL,
        icon="hourglass",
        color="#64748b",
    )

    def validate_params(self, params: dict) -> list[str]:
        errors = super().validate_params(params)
        if "condition" in params:
            errors += expression_errors("condition", params["condition"], SCOPE)
        url = params.get("url")
        if isinstance(url, str) and "{{" not in url and (problem := check_url(url)):
            errors.append(f"url: {problem}")
        errors += _number(params, "interval_seconds", 10, MIN_INTERVAL, MAX_INTERVAL)
        errors += _number(params, "timeout_seconds", 300, 1, MAX_TIMEOUT)
        return errors

    def _check(self, params: dict, attempt: int, started_at: float) -> tuple[bool, dict[str, Any]]:
        elapsed = round(max(time.time() - started_at, 0.0), 3)
        scope: dict[str, Any] = {"attempt": attempt, "elapsed_seconds": elapsed}
        outputs: dict[str, Any] = {"attempts": attempt, "elapsed_seconds": elapsed}
        if params.get("url"):
            url = str(params["url"])
            scope["response"] = outputs["response"] = (
                {"status_code": 0, "json": None, "body": "", "error": problem}
                if (problem := check_url(url))
                else _fetch(url)
            )
        met = truthy(evaluate(str(params["condition"]), scope, "condition"))
        return met, {**outputs, "met": met}

    def execute(self, ctx: ActionContext) -> ActionResult:
        started_at = time.time()
        try:
            met, outputs = self._check(ctx.params, 1, started_at)
        except RenderError as exc:
            return ActionResult(success=False, error=f"could not evaluate {exc}")
        if met:
            return ActionResult(success=True, outputs=outputs)
        workflow_id = f"wait_until:{uuid.uuid4().hex}"
        _schedule(
            params=ctx.params,
            workflow_id=workflow_id,
            started_at=started_at,
            attempt=2,
            execution_id=ctx.execution_id,
            step_id=ctx.step_id,
        )
        timeout = float(ctx.params.get("timeout_seconds", 300))
        return ActionResult(
            success=True,
            awaiting_event=True,
            external_workflow_id=workflow_id,
            timeout_seconds=int(timeout + float(ctx.params.get("interval_seconds", 10)) + 60),  # the backstop
            outputs=outputs,
        )

    def on_event(self, ctx: EventContext) -> EventResult:
        if ctx.event_type != TICK_EVENT:
            return EventResult(EventAction.IGNORE)
        data = ctx.event_data
        attempt, started_at = int(data.get("attempt", 1)), float(data.get("started_at", time.time()))
        try:
            met, outputs = self._check(ctx.params, attempt, started_at)
        except RenderError as exc:
            return EventResult(EventAction.COMPLETE, status=StepStatus.FAILED, error=f"could not evaluate {exc}")
        if met:
            return EventResult(EventAction.COMPLETE, status=StepStatus.COMPLETED, outputs=outputs)
        timeout = float(ctx.params.get("timeout_seconds", 300))
        if outputs["elapsed_seconds"] >= timeout:
            error = f"condition not met within {timeout:g}s ({attempt} checks)"
            return EventResult(EventAction.COMPLETE, status=StepStatus.FAILED, outputs=outputs, error=error)
        _schedule(
            params=ctx.params,
            workflow_id=ctx.external_workflow_id,
            started_at=started_at,
            attempt=attempt + 1,
            execution_id=ctx.execution_id,
            step_id=ctx.step_id,
        )
        return EventResult(
            EventAction.UPDATE_PROGRESS, progress=min(99.0, 100.0 * outputs["elapsed_seconds"] / timeout)
        )

    def cancel(self, ctx: ActionContext) -> None:
        if ctx.external_workflow_id:
            Schedule.objects.filter(name=ctx.external_workflow_id[:100]).delete()
