from pathlib import Path

import pytest
from django.test import Client

from budportal.models import ApiToken

pytest_plugins = ["tests.fixtures_kube"]


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", "owner@example.com", "pw-owner-123")


def grant_add_cluster(user) -> None:
    """Registering clusters is a permission an admin grants (``clusterjobs.add_cluster``)."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="add_cluster", content_type__app_label="clusterjobs"))


@pytest.fixture
def cluster_adder(owner):
    """``owner``, allowed to register clusters."""
    grant_add_cluster(owner)
    return owner


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("other", "other@example.com", "pw-other-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", "pw-staff-123", is_staff=True)


def _token_client(user) -> Client:
    _, raw = ApiToken.issue(user=user, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def owner_api(owner) -> Client:
    """A JSON API client authenticated as ``owner`` with a bearer token."""
    return _token_client(owner)


@pytest.fixture
def other_api(other_user) -> Client:
    return _token_client(other_user)


@pytest.fixture
def staff_api(staff) -> Client:
    return _token_client(staff)


@pytest.fixture
def owner_browser(owner) -> Client:
    """A session-authenticated client, as a logged-in browser."""
    client = Client()
    client.force_login(owner)
    return client


# Tests that start real processes (the real helm, daphne, qcluster workers, chromium, a docker-registry, git,
# Python subprocesses) are marked ``live``: ``pytest -m "not live"`` is the fast loop, the full run
# (scripts/test.sh) includes them. A test is live when it is in one of LIVE_DIRS, its module is named
# test_live*, it is listed in LIVE_MODULES, or it uses one of LIVE_FIXTURES (the helm binary: it runs helm).
LIVE_DIRS = ("browser", "production")
LIVE_FIXTURES = frozenset({"helm_binary", "helm4_binary", "live_deploy"})
LIVE_MODULES = frozenset(
    {
        "budportal/test_first_run.py",  # runs the portal's first start in subprocesses
        "budportal/test_metrics_server.py",  # the metrics server process
        "budportal/test_serve.py",  # the web process supervisor
        "charts/test_bundled_charts.py",  # helm lint/template
        "security/test_secrets.py",  # settings imported in fresh interpreters
        "usecases/templates/test_catalog_charts.py",  # helm template
    }
)
# Modules that must not run next to other tests (pytest-xdist): they restart the shared PostgreSQL and Redis.
# scripts/test.sh runs ``-m "not serial"`` in parallel, then ``-m serial`` alone.
SERIAL_MODULES = frozenset({"reliability/test_restarts.py"})
TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(TESTS_DIR)
        module = path.as_posix()
        if (
            path.parts[0] in LIVE_DIRS
            or path.name.startswith("test_live")
            or module in LIVE_MODULES
            or LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.live)
        if module in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)
