"""Fixtures for the production-configuration tests.

Tests marked ``production`` need the real services: they run in the second pass of ``scripts/test.sh``, which
starts a throwaway PostgreSQL and Redis (``scripts/services.sh``) and sets ``DATABASE_URL`` and ``REDIS_URL``.
Without both they are skipped, with the reason shown.
"""

import os
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL")
PYTHON = sys.executable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "production: needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [name for name in SERVICE_VARS if not os.environ.get(name)]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"production pass only: {', '.join(missing)} not set (see scripts/test.sh)")
    for item in items:
        if item.get_closest_marker("production"):
            item.add_marker(skip)


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without the service URLs and Django settings module, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in (*SERVICE_VARS, "DJANGO_SETTINGS_MODULE")}
    return {**env, "PYTHONPATH": str(ROOT), **overrides}


def current_database_url() -> str:
    """A ``postgres://`` URL for the database this test runs against (pytest-django's ``test_…`` database)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
