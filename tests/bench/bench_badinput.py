"""How quickly the API refuses hostile input: the YAML bombs, Jinja sandbox escapes and resource bombs of
``tests/badinput/test_payloads.py`` (which checks the refusals, not their speed) through the real endpoints.

In-process (Django's test client, embedded settings): seconds per request, first request of each kind included.
Executions are queued, not run (no worker here): the time is the request's (parse, validate, store). Prints
numbers, asserts nothing.

Run: ``python -m tests.bench badinput``.
"""

from __future__ import annotations

import secrets
import time

from tests.bench import Table


def _client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from budportal.models import ApiToken

    user = get_user_model().objects.create_user(f"bench-{secrets.token_hex(4)}", password=secrets.token_hex(16))
    _, raw = ApiToken.issue(user=user, name="bench")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def run() -> list[Table]:
    from django.conf import settings

    from tests.badinput import test_payloads as cases

    client = _client()
    table = Table("Hostile input: seconds per request", ["case", "endpoint", "status", "seconds"])

    def timed(name: str, path: str, body: str | dict, content_type: str = "application/json") -> None:
        started = time.perf_counter()
        response = client.post(path, body, content_type=content_type)
        table.rows.append([name, path, response.status_code, time.perf_counter() - started])

    big = "name: big\ndescription: " + "y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    timed("oversized YAML template", "/api/templates", big, "application/yaml")
    yaml_bombs = {
        "billion-laughs": (cases.BILLION_LAUGHS, "application/yaml"),
        "deep-flow": (cases.DEEP_FLOW, "application/yaml"),
        "deep-block": (cases.DEEP_BLOCK, "application/yaml"),
        "deep-json": (cases.DEEP_JSON, "application/json"),
    }
    for path in ("/api/templates/validate", "/api/templates"):
        for name, (body, content_type) in yaml_bombs.items():
            timed(name, path, body, content_type)
    for index, source in enumerate(cases.ESCAPES):
        dag = {"name": "escape", "parameters": {"a": "b"}, "steps": [{"id": "s", "action": "log", "params": {}}]}
        dag["steps"][0]["params"] = {"message": source}
        timed(f"sandbox escape #{index}", "/api/executions", dag)
    for param in cases.RESOURCE_BOMBS:
        dag = {"name": "bomb", "steps": [{"id": "s", "action": "log", "params": {"message": param.values[0]}}]}
        timed(f"resource bomb {param.id}", "/api/executions", dag)
    return [table]
