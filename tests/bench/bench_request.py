"""The load-independent cost of one ``GET /api/deployments/{id}``: CPU milliseconds and SQL statements per request,
in-process (Django's test client through the full middleware stack, bearer token, a deployment with 3 components).

CPU time (``time.process_time``) counts this process's own work only, so a busy machine slows the wall clock but
barely changes it; statements are counted with ``CaptureQueriesContext``. ``BENCH_REQUESTS`` (1,000) requests;
``BENCH_PROFILE=1`` also prints the top of a cProfile by cumulative time.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import secrets
import time

from tests.bench import Table


def _fixture() -> tuple[str, str]:
    from django.contrib.auth import get_user_model

    from budportal.models import ApiToken
    from usecases.models.deployments import ComponentDeployment, DeploymentStatus, UseCaseDeployment

    user, _ = get_user_model().objects.get_or_create(username="bench-request")
    _, raw = ApiToken.issue(user=user, name="bench")
    deployment = UseCaseDeployment.objects.create(
        owner=user,
        name=f"bench-{secrets.token_hex(4)}",  # the PostgreSQL database outlives a run
        template_name="rag",
        template_version="1.0.0",
        status=DeploymentStatus.RUNNING,
        namespace="bench",
        parameters={"replicas": 1, "model": "small"},
        value_overrides={"auth": {"password": "secret"}},
    )
    for position, name in enumerate(("db", "cache", "app")):
        ComponentDeployment.objects.create(
            deployment=deployment, component_name=name, component_type="helm", position=position, status="running"
        )
    return f"/api/deployments/{deployment.pk}", raw


def measure(requests: int) -> list:
    from django.db import connection
    from django.test import Client

    path, raw = _fixture()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for _ in range(20):  # warm: imports, URL resolver, token cache
        assert client.get(path).status_code == 200
    statements: list[str] = []

    def count(execute, sql, params, many, context):  # survives the per-request connection close, unlike the log
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert client.get(path).status_code == 200
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        client.get(path)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if os.environ.get("BENCH_PROFILE"):
        profile = cProfile.Profile()
        profile.runcall(lambda: [client.get(path) for _ in range(200)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    for sql in statements:
        print("  SQL:", sql[:160], flush=True)
    return [connection.vendor, len(statements), round(cpu / requests * 1000, 3), round(wall / requests * 1000, 3)]


def run() -> list[Table]:
    requests = int(os.environ.get("BENCH_REQUESTS", "1000"))
    table = Table(
        "GET /api/deployments/{id} in-process: statements and CPU per request (Django test client, bearer token)",
        ["database", "SQL statements", "CPU ms / request", "wall ms / request"],
        note=f"{requests} requests after 20 warm-up ones; CPU time is this process's own (load-independent).",
    )
    table.rows.append(measure(requests))
    return [table]
