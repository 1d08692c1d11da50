"""Real chart servers on 127.0.0.1 for the chart-source tests: Debian's ``docker-registry`` (the distribution
project's reference OCI registry) with basic auth and TLS from a throwaway CA, and an HTTPS Helm repository."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import re
import shutil
import socket
import ssl
import subprocess
import tarfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.clusterjobs.conftest import TEST_CHARTS, self_signed, serve_tls

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
USER, PASSWORD = "chartbot", "registry-pa55-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def package_demo(helm: str, out: Path, versions: tuple[str, ...]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for version in versions:
        subprocess.run(
            [helm, "package", str(TEST_CHARTS / "demo"), "--version", version, "-d", str(out)],
            check=True,
            capture_output=True,
        )
    return sorted(out.glob("*.tgz"))


@dataclass
class ChartServer:
    host: str  # 127.0.0.1:<port>
    ca_pem: str
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def oci_registry(tmp_path: Path, helm: str) -> Iterator[ChartServer]:
    """``docker-registry`` on 127.0.0.1 (TLS, htpasswd basic auth), with ``demo`` 0.1.0 and 0.2.0 pushed to
    ``oci://<host>/charts``."""
    binary = shutil.which("docker-registry")
    if binary is None or shutil.which("htpasswd") is None:
        pytest.skip("docker-registry / htpasswd not installed (scripts/test.sh installs them)")
    tmp_path.mkdir(parents=True, exist_ok=True)
    ca_pem = self_signed(tmp_path).decode()
    htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True)
    (tmp_path / "htpasswd").write_text(htpasswd.stdout)
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
        "http": {
            "addr": f"127.0.0.1:{port}",
            "tls": {"certificate": str(tmp_path / "cert.pem"), "key": str(tmp_path / "key.pem")},
        },
        "auth": {"htpasswd": {"realm": "test", "path": str(tmp_path / "htpasswd")}},
    }
    (tmp_path / "registry.json").write_text(json.dumps(config))  # YAML is a superset of JSON
    process = subprocess.Popen(
        [binary, "serve", str(tmp_path / "registry.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, process)
        server = ChartServer(host=f"127.0.0.1:{port}", ca_pem=ca_pem)
        for archive in package_demo(helm, tmp_path / "pkg", ("0.1.0", "0.2.0")):
            push_chart(server, archive)
        yield server
    finally:
        process.terminate()
        process.wait(10)


def push_chart(server: ChartServer, archive: Path) -> None:
    """What ``helm push`` does (a config blob, the chart layer, an OCI manifest tagged with the version), spoken
    directly: helm 3 talks plain HTTP to any registry on a loopback address, and this one speaks TLS only."""
    context = ssl.create_default_context(cadata=server.ca_pem)
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    base = f"https://{server.host}/v2/charts/demo"

    def call(method: str, url: str, body: bytes = b"", content_type: str = "application/octet-stream"):
        request = urllib.request.Request(url, data=body or None, method=method)
        request.add_header("Authorization", auth)
        request.add_header("Content-Type", content_type)
        return urllib.request.urlopen(request, context=context, timeout=10)

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = call("POST", f"{base}/blobs/uploads/").headers["Location"]
        separator = "&" if "?" in location else "?"
        call("PUT", urllib.parse.urljoin(base, location) + f"{separator}digest={digest}", data)
        return {"digest": digest, "size": len(data)}

    with tarfile.open(archive) as tar:
        member = next(m for m in tar if m.name.endswith("/Chart.yaml") and m.name.count("/") == 1)
        chart = yaml.safe_load(tar.extractfile(member).read())
    config = {"mediaType": "application/vnd.cncf.helm.config.v1+json", **blob(json.dumps(chart).encode())}
    layer = {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", **blob(archive.read_bytes())}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    call("PUT", f"{base}/manifests/{chart['version']}", json.dumps(manifest).encode(), OCI_MANIFEST)


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("docker-registry exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("docker-registry did not listen")


class _AuthHandler(SimpleHTTPRequestHandler):
    """Serves the repository only with the right basic auth; records each path it served."""

    server_record: ChartServer

    def do_GET(self):
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        self.server_record.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def https_repository(tmp_path: Path, helm: str, versions: tuple[str, ...]) -> Iterator[ChartServer]:
    """``https://<host>/charts``: an index made by ``helm repo index``, basic auth, a throwaway CA that
    nothing trusts unless told (no SSL_CERT_FILE)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    package_demo(helm, tmp_path / "www" / "charts", versions)
    subprocess.run([helm, "repo", "index", str(tmp_path / "www" / "charts")], check=True, capture_output=True)
    ca_pem = self_signed(tmp_path).decode()
    record = ChartServer(host="", ca_pem=ca_pem)
    handler = type("Handler", (_AuthHandler,), {"server_record": record})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path / "www")))
    with serve_tls(server, tmp_path) as url:
        record.host = url.removeprefix("https://")
        yield record


def _git(*args: str, cwd: Path) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@contextlib.contextmanager
def git_daemon(tmp_path: Path) -> Iterator[str]:
    """``git://127.0.0.1:<port>/charts.git`` (yielded): the demo chart at ``charts/demo``, version 0.1.0 at
    tag ``v1.0`` and 0.2.0 on ``main``, plus a symlink ``charts/demo/leak.txt`` → ``/etc/hostname``."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    work = tmp_path / "work"
    shutil.copytree(TEST_CHARTS / "demo", work / "charts" / "demo")
    (work / "charts" / "demo" / "leak.txt").symlink_to("/etc/hostname")
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "demo 0.1.0", cwd=work)
    _git("tag", "v1.0", cwd=work)
    chart_yaml = work / "charts" / "demo" / "Chart.yaml"
    chart_yaml.write_text(re.sub(r"(?m)^version:.*$", "version: 0.2.0", chart_yaml.read_text()))
    _git("commit", "-qam", "demo 0.2.0", cwd=work)
    root = tmp_path / "served"
    root.mkdir()
    _git("clone", "-q", "--bare", str(work), str(root / "charts.git"), cwd=tmp_path)
    port = _free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={root}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"git://127.0.0.1:{port}/charts.git"
    finally:
        process.terminate()
        process.wait(10)
