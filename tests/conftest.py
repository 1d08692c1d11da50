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


# Tests that start real processes (the real helm, daphne, qcluster workers, chromium, a docker-registry, a git
# daemon, Python subprocesses) are marked ``live``: ``pytest -m "not live"`` is the fast loop, the full run
# (scripts/test.sh) includes them. A test is live when it is in one of LIVE_DIRS, its module is named
# test_live* or *_live, it uses one of LIVE_FIXTURES, or its module or node id is in LIVE_TESTS.
LIVE_DIRS = ("browser", "production")
LIVE_FIXTURES = frozenset(
    {
        "helm_binary",  # the real helm (Helm 3)
        "helm4_binary",
        "helm_settings",  # jobs run the real helm (tests/clusterjobs/test_failures.py picks 3 or 4 at run time)
        "deploy_settings",
        "helm",  # tests/standin: the real helm against the stand-in
        "helm3",
        "git_repo",  # a git daemon
        "live_deploy",  # daphne + qcluster
    }
)
LIVE_TESTS = frozenset(
    {
        "budportal/test_first_run.py",  # the portal's first start, in subprocesses
        "budportal/test_metrics_server.py",  # the metrics server process
        "budportal/test_serve.py",  # the web process supervisor
        "charts/test_bundled_charts.py",  # helm lint/template
        "security/test_secrets.py",  # settings imported in fresh interpreters
        "usecases/templates/test_catalog_charts.py",  # helm template
        "pipelines/test_jinja_limits.py::test_it_kills_its_render_workers_when_the_process_exits",  # a subprocess
        "standin/test_api.py::test_it_serves_kubectl",
        "standin/test_sandbox_command.py",  # the sandbox command's helm
        # Not a process, but the whole-API fuzz: ~2,000 generated requests take minutes, and building its 136
        # tests from the OpenAPI schema adds seconds to every collection (skipped below when live tests are not
        # selected). It runs in both passes of the full run.
        "badinput/test_schemathesis.py",
    }
)
# Tests (modules or node ids) that must not run next to other tests under pytest-xdist: scripts/test.sh runs
# ``-m "not serial"`` in parallel, then ``-m serial`` alone.
SERIAL_TESTS = frozenset(
    {
        "reliability/test_restarts.py",  # restarts the shared PostgreSQL and Redis
        # Recursion headroom: an xdist worker's stack is deeper (execnet), and the render workers forked from it
        # inherit that depth, so nesting that fails cleanly at the depth limit hits Python's recursion limit.
        "pipelines/test_jinja_limits.py::test_it_answers_422_naming_the_path_of_params_nested_too_deep",
        "pipelines/test_params.py::test_it_refuses_resource_bombs_with_a_clear_error",
        # Its query count grows when the machine is slow (runner.CONTINUE_SECONDS ends a worker's batch early).
        "pipelines/test_query_budget.py::test_a_wide_fan_out_under_the_user_limit_reads_a_page_of_pending_steps_per_completion_not_all",
    }
)
TESTS_DIR = Path(__file__).resolve().parent


def _selects(config: pytest.Config, marks: set[str]) -> bool:
    """Whether ``-m`` selects a test with exactly these markers (always, without ``-m``)."""
    from _pytest.mark.expression import Expression  # pytest's own parser of -m expressions

    markexpr = config.getoption("markexpr")
    return not markexpr or Expression.compile(markexpr).evaluate(lambda name, **_: name in marks)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # The fuzz's tests are all live: with -m "not live" the module is not even imported (seconds of collection).
    if collection_path.name == "test_schemathesis.py" and not _selects(config, {"live", "django_db", "hypothesis"}):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(TESTS_DIR)
        module = path.as_posix()
        test = f"{module}::{getattr(item, 'originalname', item.name)}"
        if (
            path.parts[0] in LIVE_DIRS
            or path.name.startswith("test_live")
            or path.stem.endswith("_live")
            or module in LIVE_TESTS
            or test in LIVE_TESTS
            or LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.live)
        if module in SERIAL_TESTS or test in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)
