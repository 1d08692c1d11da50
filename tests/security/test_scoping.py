"""Every route is scoped: another user's object id gives 404 (never 200/403, which would confirm it exists),
and an anonymous caller gets 401 (API) or a redirect to the login page (pages).

The routes are enumerated, not listed: the Django URL resolver, the API's OpenAPI paths (with their methods)
and the ASGI (SSE) routes. A new route fails ``test_it_exercises_or_exempts_every_route`` until it is scoped
here automatically (its path parameters name a kind of object in ``owned``) or listed in ``EXEMPT`` with why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from budportal.api import api
from clusterjobs.models import Cluster
from pipelines.models import Notification, PipelineExecution, SavedPipeline
from tests.dbstate import everything
from tests.security.conftest import TEMPLATE_DOCUMENT, job_status
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment
from usecases.views.deployments import ACTIONS

pytestmark = pytest.mark.django_db

EXEMPT = {
    "healthz": "liveness probe for load balancers: public by design, returns no data",
    "readyz": "readiness probe of the chart: public by design, names failing checks only, returns no data",
    "accounts/login/": "the login page itself",
    "accounts/logout/": "logging out needs no login",
    "api/openapi.json": "the public API schema (no data)",
    "api/docs": "the public API documentation page (no data)",
    "api/": "django-ninja's root name for reverse(); answers 404 to everyone",
    "api/actions/<action_type>": "action metadata: the same for every user, names no user's object",
    "metrics": "Prometheus scrape: 404 without METRICS_TOKEN, 401 without its bearer token; no user's objects "
    "(tests/budportal/test_metrics.py)",
    "api/pipelines/<pipeline_id>/webhook": "authenticated by the pipeline's own secret, not a login: a wrong or "
    "missing secret is a 404 for anyone (tests/pipelines/test_saved_pipelines.py)",
}
# Django's admin guards every view with admin_view (staff only); checked once below rather than per model.
EXEMPT_PREFIXES = {"admin/": "Django admin: staff-only (admin_view); anonymous and non-staff go to its login"}
CONVERTER = re.compile(r"<\w+:(?=\w+>)")
PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\{(\w+)\}")
PAGE_METHODS = ("get", "post")
# Path parameters that choose a verb rather than name an object: every value is exercised.
CHOICE_PARAMS = {"action": tuple(ACTIONS)}


@dataclass(frozen=True)
class Route:
    pattern: str  # as Django spells it, without the leading slash: "api/deployments/<deployment_id>"
    methods: tuple[str, ...]
    api: bool

    @property
    def params(self) -> list[str]:
        return [a or b for a, b in PARAM.findall(self.pattern)]

    def urls(self, values: dict[str, Any]) -> list[str]:
        """The route's URL for each value of its choice parameter (if any), objects filled from ``values``."""
        choice = next((p for p in self.params if p in CHOICE_PARAMS), None)
        options = CHOICE_PARAMS[choice] if choice else [None]
        return [
            "/" + PARAM.sub(lambda m: str(({choice: option} | values)[m.group(1) or m.group(2)]), self.pattern)
            for option in options
        ]


def _walk(resolver: URLResolver, prefix: str = "") -> list[str]:
    out = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            out += _walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            # Path converters (``<int:template_id>``) are dropped: OpenAPI paths name only the parameter.
            out.append(CONVERTER.sub("<", prefix + str(entry.pattern)))
    return out


def _openapi_methods() -> dict[str, tuple[str, ...]]:
    paths = api.get_openapi_schema()["paths"]
    return {PARAM.sub(r"<\2>", path.lstrip("/")): tuple(sorted(ops)) for path, ops in paths.items()}


def all_routes() -> list[Route]:
    openapi = _openapi_methods()
    routes = {}
    for pattern in _walk(get_resolver()):
        if any(pattern.startswith(prefix) for prefix in EXEMPT_PREFIXES):
            continue
        is_api = pattern in openapi
        routes[pattern] = Route(pattern, openapi.get(pattern, PAGE_METHODS), is_api)
    missing_from_resolver = set(openapi) - set(routes)
    assert not missing_from_resolver, f"OpenAPI paths the resolver does not serve: {missing_from_resolver}"
    return sorted(routes.values(), key=lambda r: r.pattern)


def _request(client: Client, method: str, url: str, api_route: bool):
    if method in ("post", "put", "patch") and api_route:
        return getattr(client, method)(url, TEMPLATE_DOCUMENT, content_type="application/json")
    return getattr(client, method)(url)


def owner_objects_intact(owned: dict[str, Any]) -> None:
    assert UseCaseTemplate.objects.filter(name=owned["name"], description="mine").exists()
    assert Cluster.objects.filter(pk=owned["cluster_id"]).exists()
    assert UseCaseDeployment.objects.filter(pk=owned["deployment_id"], status="pending").exists()
    assert PipelineExecution.objects.filter(pk=owned["execution_id"], status="RUNNING").exists()
    assert job_status(owned["_job"]) == "PENDING"
    assert Notification.objects.filter(pk=owned["notification_id"], read_at__isnull=True).exists()
    assert SavedPipeline.objects.filter(pk=owned["pipeline_id"], paused=False, name="mine").exists()


def test_it_exercises_or_exempts_every_route(owned):
    unscoped = [
        r.pattern
        for r in all_routes()
        if r.pattern not in EXEMPT and any(p not in owned and p not in CHOICE_PARAMS for p in r.params)
    ]
    assert not unscoped, (
        f"routes whose parameters name no known object kind: {unscoped}. Add the kind to the "
        "`owned` fixture (tests/security/conftest.py) or exempt the route with a reason."
    )
    assert len([r for r in all_routes() if r.params]) >= 20  # the enumeration really found the object routes


def test_it_answers_404_to_another_user_on_every_object_route(owned, other_user):
    other = Client()
    other.force_login(other_user)
    seen = {}
    before = everything()
    for route in all_routes():
        if route.pattern in EXEMPT or not route.params:
            continue
        for url in route.urls(owned):
            statuses = {m: _request(other, m, url, route.api).status_code for m in route.methods}
            seen[url] = statuses
            allowed = {404} if route.api else {404, 405}  # a page may refuse a method before any lookup
            assert set(statuses.values()) <= allowed, (url, statuses)
            assert 404 in statuses.values(), (url, statuses)
    owner_objects_intact(owned)
    assert everything() == before  # nothing created, changed or deleted by the refused requests
    assert len(seen) >= 20, seen


def test_it_answers_404_to_another_users_token_on_every_api_object_route(owned, other_api):
    before = everything()
    for route in all_routes():
        if route.api and route.params and route.pattern not in EXEMPT:
            for method in route.methods:
                response = _request(other_api, method, route.urls(owned)[0], True)
                assert response.status_code == 404, (method, route.pattern, response.content[:200])
    owner_objects_intact(owned)
    assert everything() == before


def test_it_lets_staff_see_every_users_objects(owned, staff_api):
    before = everything()
    for route in all_routes():
        if route.api and route.params and "get" in route.methods and route.pattern not in EXEMPT:
            response = staff_api.get(route.urls(owned)[0])
            assert response.status_code == 200, (route.pattern, response.content[:200])
    assert everything() == before  # reads never write


def test_it_asks_anonymous_callers_to_log_in_on_every_route(owned):
    anonymous = Client()
    before = everything()
    for route in all_routes():
        if route.pattern in EXEMPT:
            continue
        for url, method in [(url, m) for url in route.urls(owned) for m in route.methods]:
            response = _request(anonymous, method, url, route.api)
            if route.api:
                assert response.status_code == 401, (method, route.pattern, response.status_code)
            elif response.status_code != 405:
                assert response.status_code == 302, (method, route.pattern, response.status_code)
                assert response["Location"].startswith("/accounts/login/"), (route.pattern, response["Location"])
    owner_objects_intact(owned)
    assert everything() == before


def test_it_keeps_the_admin_for_staff(owned, owner_browser):
    assert Client().get("/admin/").status_code == 302
    response = owner_browser.get(f"/admin/usecases/usecasedeployment/{owned['deployment_id']}/change/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_keeps_exempt_routes_free_of_data(owned):
    anonymous = Client()
    for pattern in ("healthz", "readyz", "api/openapi.json"):
        response = anonymous.get("/" + pattern)
        assert response.status_code == 200
        assert owned["deployment_id"].encode() not in response.content
    assert anonymous.get("/api/").status_code == 404
