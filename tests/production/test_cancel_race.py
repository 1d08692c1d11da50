"""Cancelling executions while their steps complete, on PostgreSQL + Redis with real workers (issue 17.1).

The cancel locks the execution and then its steps; a worker completing a step used to hold its step row and
then wait for the execution row, so PostgreSQL killed one of the two as a deadlock victim and the cancel
answered 500 while the execution ran on. Now every transaction takes the execution row first (the lock order
documented in ``pipelines.models``) and a deadlock victim is retried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.livestack import LiveStack
from tests.production.services import isolated_services

pytestmark = [pytest.mark.production, pytest.mark.timeout(600)]

FAN_OUT = 500
BATCHED_FAN_OUT = 3000  # batches run ~2,000 steps/s: enough steps to cancel in the middle
TRIALS = 20


@pytest.fixture
def stack() -> Iterator[LiveStack]:
    with isolated_services() as services, LiveStack(workers=2, env=services) as live:
        yield live


def _fan_out(n: int, *, batched: bool) -> dict:
    # A Jinja param makes a step go the one-at-a-time way (claim, render, run, record); plain params let the
    # workers claim and record 50 at a time (pipelines.batching). The cancel must win against both.
    message = "x" if batched else "{{ 'x' }}"
    return {
        "name": "wide",
        "steps": [{"id": f"s{i}", "action": "log", "params": {"message": message}} for i in range(n)],
    }


def _detail(stack: LiveStack, execution_id: str) -> dict:
    status, body = stack.api("GET", f"/api/executions/{execution_id}")
    assert status == 200, body
    return body


def _completed_steps(stack: LiveStack, execution_id: str) -> int:
    status, body = stack.api_all(f"/api/events?execution={execution_id}")
    assert status == 200, body
    return sum(1 for event in body if event["type"] == "step_completed")


def test_it_cancels_fan_outs_while_their_steps_complete_and_no_step_starts_afterwards(stack) -> None:
    cancelled, batched_too_late = [], 0
    for trial in range(TRIALS):
        batched = trial % 2 == 1
        status, created = stack.api(
            "POST", "/api/executions", json=_fan_out(BATCHED_FAN_OUT if batched else FAN_OUT, batched=batched)
        )
        assert status == 201, created
        execution_id = created["execution_id"]
        # Cancel in the middle of the completions: some steps done, most still queued or running.
        done = 1 if batched else 5 + trial
        try:
            stack.wait_for(lambda: _completed_steps(stack, execution_id) >= done, timeout=60, interval=0.02)
        except TimeoutError:
            raise AssertionError(
                f"trial {trial}: {_detail(stack, execution_id)['status']}\n" + stack.log("qcluster")[-4000:]
            ) from None
        status, body = stack.api("POST", f"/api/executions/{execution_id}/cancel")
        if batched and status == 409 and _detail(stack, execution_id)["status"] == "COMPLETED":
            batched_too_late += 1  # batches ran the whole fan-out before the cancel arrived: no race this time
            continue
        assert 200 <= status < 300, f"trial {trial}: cancel answered {status}: {body}"
        assert body["status"] == "CANCELLED", body
        cancelled.append(execution_id)
    assert batched_too_late <= TRIALS // 4, f"{batched_too_late} batched fan-outs finished before their cancel"

    time.sleep(2)  # the workers drain the queued messages of the cancelled steps
    for execution_id in cancelled:
        detail = _detail(stack, execution_id)
        assert detail["status"] == "CANCELLED", detail["error"]
        cancelled_at = datetime.fromisoformat(detail["completed_at"])
        steps = detail["steps"]
        assert {s["status"] for s in steps} <= {"COMPLETED", "CANCELLED"}, {s["status"] for s in steps}
        late = [
            s["step_id"] for s in steps if s["started_at"] and datetime.fromisoformat(s["started_at"]) > cancelled_at
        ]
        assert not late, f"{len(late)} step(s) started after the cancel committed: {late[:5]}"
        assert any(s["status"] == "CANCELLED" for s in steps)
    assert "Traceback" not in stack.log("daphne"), stack.log("daphne")[-3000:]
