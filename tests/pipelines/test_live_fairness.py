"""Issue 10 part 4 against real workers: one user's long steps no longer take every worker from the others."""

import json
from datetime import datetime

import pytest

from tests.livestack import _SETUP_USER, LiveStack

pytestmark = pytest.mark.timeout(240)

DELAY = 3


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_it_runs_another_users_step_while_one_user_has_more_long_steps_than_workers():
    # Two workers and the default limit (Q_WORKERS - 1 = 1 running step per user).
    with LiveStack(workers=2) as stack:
        out = stack.manage("shell", "-c", _SETUP_USER.format(username="second", staff=False)).stdout
        second_token = json.loads(out.split("LIVESTACK", 1)[1].strip())["token"]
        sleepy = {
            "name": "sleepy",
            "steps": [{"id": f"nap{i}", "action": "delay", "params": {"seconds": DELAY}} for i in range(4)],
        }
        status, mine = stack.api("POST", "/api/executions", json=sleepy)
        assert status == 201, mine

        first_token, stack.token = stack.token, second_token
        status, theirs = stack.api(
            "POST",
            "/api/executions",
            json={"name": "quick", "steps": [{"id": "hello", "action": "log", "params": {"message": "hi"}}]},
        )
        assert status == 201, theirs
        path = f"/api/executions/{theirs['execution_id']}"
        stack.wait_for(lambda: stack.api("GET", path)[1]["completed_at"], timeout=60)
        quick = stack.api("GET", path)[1]

        stack.token = first_token
        path = f"/api/executions/{mine['execution_id']}"
        stack.wait_for(lambda: stack.api("GET", path)[1]["completed_at"], timeout=120)
        slow = stack.api("GET", path)[1]

    assert quick["status"] == "COMPLETED"
    assert slow["status"] == "COMPLETED"
    naps = sorted((_ts(s["started_at"]), _ts(s["completed_at"])) for s in slow["steps"])
    # The other user's step did not wait for the first user's naps: it finished before the first nap did.
    assert _ts(quick["completed_at"]) < naps[0][1]
    # And the first user never held both workers: their naps ran one after another.
    assert all(later[0] >= earlier[1] for earlier, later in zip(naps, naps[1:]))
