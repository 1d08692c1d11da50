"""``/healthz`` and ``/readyz`` report the database and the broker (issue 17.3): 200 while both answer, 503
naming the one that does not for as long as it does not."""

import socket

import pytest
from django.db import OperationalError, connection
from django.test import Client

from budportal import health


@pytest.fixture
def fresh_redis_client():
    health._redis = None
    yield
    health._redis = None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_it_answers_200_when_the_database_and_broker_answer(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_it_answers_503_naming_the_broker_while_redis_is_down(path, settings, fresh_redis_client):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://127.0.0.1:{_closed_port()}/0"}
    response = Client().get(path)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("unavailable (")
    assert "127.0.0.1" not in response.content.decode(), "no configuration in a public answer"


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_while_the_database_is_down_and_200_again_after(monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refused)
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable (OperationalError)"
    assert Client().get("/healthz").status_code == 200
