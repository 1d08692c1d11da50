"""``budportal.settings`` picks the embedded or the production set-up from the environment alone.

The settings module is imported in a fresh interpreter per case, as a real process would at start-up.
"""

import json
import subprocess
from typing import Any

from tests.production.conftest import PYTHON, ROOT, clean_env

DUMP = (
    "import json, budportal.settings as s; "
    "print(json.dumps({'db': s.DATABASES['default'], 'layers': s.CHANNEL_LAYERS, 'q': s.Q_CLUSTER}))"
)


def _import_settings(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", DUMP],
        cwd=ROOT,
        env=clean_env(BUDPORTAL_DATA_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _settings(tmp_path, **env: str) -> dict[str, Any]:
    result = _import_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_uses_postgresql_with_the_parsed_url_fields(tmp_path) -> None:
    found = _settings(tmp_path, DATABASE_URL="postgres://bud%40ops:p%3Ass@db.internal:6543/portal?sslmode=require")
    db = found["db"]

    assert db["ENGINE"] == "budportal.postgresql"  # Django's, with a cheaper pool check
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "portal",
        "bud@ops",
        "p:ss",
        "db.internal",
        "6543",
    )
    keepalives = {"keepalives": "1", "keepalives_idle": "60", "keepalives_interval": "10", "keepalives_count": "3"}
    pool = {"min_size": 2, "max_size": 8, "timeout": 10}
    assert db["OPTIONS"] == {**keepalives, "sslmode": "require", "pool": pool}
    assert db["CONN_MAX_AGE"] == 0
    assert db["CONN_HEALTH_CHECKS"] is True
    # The database alone does not switch the broker or the channel layer.
    assert found["q"]["orm"] == "default"
    assert "redis" not in found["q"]
    assert found["layers"]["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_web_processes_pool_connections_and_workers_keep_theirs(tmp_path) -> None:
    url = "postgres://u:p@h/d"
    assert _settings(tmp_path, DATABASE_URL=url, DATABASE_POOL_SIZE="3")["db"]["OPTIONS"]["pool"]["max_size"] == 3
    # A worker keeps one persistent connection per thread: Django refuses a pool together with CONN_MAX_AGE.
    worker = _settings(tmp_path, DATABASE_URL=url, DATABASE_CONN_MAX_AGE="60")["db"]
    assert worker["CONN_MAX_AGE"] == 60
    assert "pool" not in worker["OPTIONS"]
    assert "pool" not in _settings(tmp_path, DATABASE_URL=url, DATABASE_POOL_SIZE="0")["db"]["OPTIONS"]


def test_it_uses_channels_redis_and_the_redis_broker_only_with_redis_url(tmp_path) -> None:
    found = _settings(tmp_path, REDIS_URL="redis://cache.internal:6380/2", DATABASE_URL="postgres://u:p@h/d")

    assert found["layers"]["default"] == {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://cache.internal:6380/2"]},
    }
    assert found["q"]["redis"] == "redis://cache.internal:6380/2"
    # django-q2 prefers "orm" over "redis" when both keys exist, so "orm" must be absent.
    assert "orm" not in found["q"]


def test_it_defaults_to_sqlite_in_wal_mode_with_immediate_transactions(tmp_path) -> None:
    found = _settings(tmp_path)
    db = found["db"]

    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "budportal.sqlite3")
    assert "PRAGMA journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert "PRAGMA busy_timeout=" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert found["q"]["orm"] == "default"
    assert "redis" not in found["q"]
    assert found["layers"]["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_it_refuses_an_unsupported_database_url(tmp_path) -> None:
    result = _import_settings(tmp_path, DATABASE_URL="mysql://u:p@h/d")

    assert result.returncode != 0
    assert "DATABASE_URL scheme 'mysql' is not supported" in result.stderr
