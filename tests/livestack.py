"""A real portal: ``migrate``, a django-q2 ``qcluster`` and ``daphne`` on an ephemeral 127.0.0.1 port, with a
user, a bearer token and a browser session. For tests and benchmarks that need real worker processes
(parallelism, SSE across processes); everything is stopped on exit.

On the embedded defaults it uses a temporary SQLite file. When ``DATABASE_URL`` and ``REDIS_URL`` are set (the
production pass of ``scripts/test.sh``) it runs on an empty PostgreSQL database and Redis database of its own,
so the same tests exercise the Redis broker and channels-redis across processes.

    with LiveStack(workers=2) as stack:
        status, body = stack.api("POST", "/api/executions", json=dag)
        stack.url, stack.token, stack.session_cookie
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)")

_SETUP_USER = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from budportal.models import ApiToken
User = get_user_model()
user = User.objects.filter(username={username!r}).first() or User.objects.create_user(
    {username!r}, password="live-pw-123", is_staff={staff!r})
from django.contrib.auth.models import Permission
# Registering clusters is a permission (clusterjobs.add_cluster); the live tests register the stand-in.
user.user_permissions.add(Permission.objects.get(codename="add_cluster", content_type__app_label="clusterjobs"))
_, raw = ApiToken.issue(user=user, name="livestack")
session = SessionStore()
session["_auth_user_id"] = str(user.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
session.create()
print("LIVESTACK" + json.dumps({{"token": raw, "session": session.session_key, "user_id": user.pk}}))
"""


class LiveStack:
    def __init__(
        self,
        workers: int = 2,
        *,
        poll: float = 0.2,
        env: dict[str, str] | None = None,
        username: str = "live",
        staff: bool = False,
        start_timeout: float = 60,
    ):
        self.workers, self.poll, self.extra_env = workers, poll, env or {}
        self.username, self.staff, self.start_timeout = username, staff, start_timeout
        self.processes: dict[str, subprocess.Popen] = {}
        self.dir: Path | None = None
        self.url = self.token = self.session_cookie = ""
        self.user_id = 0
        self.services: dict[str, str] = {}
        self._cleanup = ExitStack()

    # --- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> LiveStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        env.update(
            self.services,
            DJANGO_SETTINGS_MODULE="budportal.settings",
            BUDPORTAL_DATA_DIR=str(self.dir),
            SQLITE_PATH=str(self.dir / "portal.sqlite3"),
            Q_WORKERS=str(self.workers),
            Q_POLL=str(self.poll),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="budportal-live-"))
        if self.uses_production_services:
            from tests.production.services import isolated_services

            self.services = self._cleanup.enter_context(isolated_services())
        self.manage("migrate", "--noinput")
        out = self.manage("shell", "-c", _SETUP_USER.format(username=self.username, staff=self.staff)).stdout
        creds = json.loads(out.split("LIVESTACK", 1)[1].strip())
        self.token, self.user_id = creds["token"], creds["user_id"]
        self.session_cookie = f"sessionid={creds['session']}"
        self.start_qcluster()
        processes = self.extra_env.get("WEB_PROCESSES")
        if processes:  # the supervisor (budportal/serve.py, WEB_SERVER) on a port chosen here
            port = _free_port()
            self._spawn("daphne", [sys.executable, "-m", "budportal.serve", "-p", str(port), "-n", str(processes)])
        else:
            self._spawn(
                "daphne",
                [sys.executable, "-m", "daphne", "-e", "tcp:0:interface=127.0.0.1", "budportal.asgi:application"],
                LOG_LEVEL="INFO",
            )  # the port is read from its log
            port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{port}"
        self._wait_until_healthy()

    @property
    def uses_production_services(self) -> bool:
        wanted = ("DATABASE_URL", "REDIS_URL")
        return all(os.environ.get(k) for k in wanted) and not any(k in self.extra_env for k in wanted)

    def stop(self) -> None:
        # Only the main process gets SIGTERM: qcluster stops its own workers in ~2 s, whereas signalling the
        # whole group makes it wait for the killed workers until its 15 s guard.
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group, if any
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
        self.processes.clear()
        self._cleanup.close()
        if self.dir and not os.environ.get("LIVESTACK_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a started process group (e.g. ``kill("qcluster")`` to simulate a worker machine dying)."""
        proc = self.processes.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=15)

    def start_qcluster(self) -> None:
        self._spawn("qcluster", [sys.executable, "manage.py", "qcluster"])

    # --- helpers -------------------------------------------------------------------------------------
    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")

    def api(self, method: str, path: str, json: Any = None, *, timeout: float = 30) -> tuple[int, Any]:
        """Call the JSON API with the bearer token; returns (status, decoded body or None)."""
        data = None if json is None else _dumps(json)
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        return status, _loads(body)

    def api_all(self, path: str) -> tuple[int, list[Any]]:
        """Every item of a paged list endpoint (``{items, total, page, page_size}``), page by page."""
        items: list[Any] = []
        separator = "&" if "?" in path else "?"
        for page in range(1, 1000):
            status, body = self.api("GET", f"{path}{separator}page={page}&page_size=100")
            if status != 200:
                return status, body
            items.extend(body["items"])
            if len(items) >= body["total"] or not body["items"]:
                return status, items
        return 200, items

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"condition not met in {timeout} s")

    def _spawn(self, name: str, argv: list[str], **env: str) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _wait_for_port(self) -> int:
        def port() -> int | None:
            if self.processes["daphne"].poll() is not None:
                raise RuntimeError("daphne exited:\n" + self.log("daphne"))
            match = _LISTENING.search(self.log("daphne"))
            return int(match.group(1)) if match else None

        return self.wait_for(port, timeout=self.start_timeout)

    def _wait_until_healthy(self) -> None:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        self.wait_for(healthy, timeout=self.start_timeout, interval=0.2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")
