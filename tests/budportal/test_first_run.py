"""``scripts/portal.sh`` on a first run: the data directory it is told to use does not exist yet.

The script runs for real (migrate, catalog, collectstatic, admin, qcluster, sweep, daphne) from a scratch
checkout whose ``scripts/bootstrap.sh`` is a no-op and whose ``.venv`` and ``manage.py`` are this checkout's,
so nothing is installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.livestack import ROOT

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "portal.sh", tmp_path / "scripts" / "portal.sh")
    (tmp_path / "scripts" / "bootstrap.sh").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "scripts" / "bootstrap.sh").chmod(0o755)
    (tmp_path / ".venv").symlink_to((ROOT / ".venv").resolve())
    (tmp_path / "manage.py").symlink_to(ROOT / "manage.py")
    return tmp_path


def test_it_creates_a_missing_data_dir_and_starts(checkout: Path, tmp_path: Path):
    data_dir = tmp_path / "fresh" / "portal-data"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_PATH")
    }
    env.update(BUDPORTAL_DATA_DIR=str(data_dir), PORT=str(port), SANDBOX="0", Q_WORKERS="1")
    log = tmp_path / "portal.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(checkout / "scripts" / "portal.sh")],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    healthy = response.status == 200
            except OSError:
                time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert healthy, text
        assert "OperationalError" not in text
        assert (data_dir / "budportal.sqlite3").exists()
        assert (data_dir / "admin-password.txt").exists()
        assert f"{data_dir}/admin-password.txt" in text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the script's trap stops daphne, qcluster and the sweep
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
