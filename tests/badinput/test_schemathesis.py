"""Property-based fuzzing of the whole JSON API from its own OpenAPI schema (schemathesis, in-process through
Django's WSGI handler, bounded examples): whatever a client sends, the answer is never a server error.

Each operation is fuzzed twice: with generated path ids (mostly unknown: the 404/422 paths) and with the ids of
real objects the caller owns (a template, cluster, deployment, execution, job, notification), so generated
bodies reach the services."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from budportal.models import ApiToken

EXAMPLES_PER_OPERATION = 15
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", WSGIHandler())


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Django's test client stops request signals from closing the test's database connection (with
    CONN_MAX_AGE 0 on PostgreSQL it would close it mid-transaction); schemathesis calls the handler directly."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def token(owner) -> str:
    _, raw = ApiToken.issue(user=owner, name="fuzz")
    return raw


def call_and_check(case, token: str) -> None:
    # The schema's cookie scheme (the browser session) makes schemathesis send a random ``sessionid``; with a
    # session cookie the API demands CSRF and answers 403 before the body is read. Fuzz the bodies instead.
    case.cookies = {}
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_it_never_answers_a_server_error(case, token):
    call_and_check(case, token)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_it_never_answers_a_server_error_on_real_objects(case, token, owned: dict[str, Any]):
    if not case.path_parameters:
        pytest.skip("no object in the path (fuzzed by the test above)")
    case.path_parameters = {name: owned.get(name, value) for name, value in case.path_parameters.items()}
    call_and_check(case, token)
