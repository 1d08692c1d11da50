"""``manage.py metrics_server``: the samples every process of the host wrote, to the token holder only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.production.conftest import ROOT

pytestmark = pytest.mark.live
TOKEN = "w0rker-metrics"
WORKER = """
from pipelines.metrics import STEP_SECONDS
STEP_SECONDS.labels(action="log", status="COMPLETED").observe(0.02)
"""


def _get(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_it_reports_what_other_processes_observed_to_the_token_holder(tmp_path: Path, free_tcp_port: int) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "METRICS_TOKEN": TOKEN,
    }
    (tmp_path / "prom").mkdir()
    setup = "import django; django.setup()\n"
    subprocess.run([sys.executable, "-c", setup + WORKER], env=env, cwd=ROOT, check=True, timeout=60)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "metrics_server", "--host", "127.0.0.1", "--port", str(free_tcp_port)],
        env=env,
        cwd=ROOT,
    )
    try:
        url = f"http://127.0.0.1:{free_tcp_port}/metrics"
        for _ in range(100):
            try:
                status, body = _get(url, TOKEN)
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200
        assert 'budportal_step_duration_seconds_count{action="log",status="COMPLETED"} 1.0' in body
        assert _get(url, None)[0] == 401
        assert _get(url, "wrong")[0] == 401
        assert "budportal_" not in _get(url, "wrong")[1]
        assert _get(f"http://127.0.0.1:{free_tcp_port}/other", TOKEN)[0] == 404
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_it_refuses_to_serve_without_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("METRICS_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "metrics_server", "--port", "1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "METRICS_TOKEN is not set" in result.stderr
