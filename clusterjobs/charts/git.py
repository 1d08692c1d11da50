"""Charts from a ref of a git repository: ``git+https://host/org/repo.git//path/to/chart`` or
``git://host[:port]/repo.git//path/to/chart``, the git ref (tag, branch or commit) given as the chart version.

Only that ref is fetched, shallowly (``--depth 1``), into the job's temp dir, killed when it outgrows
``GIT_CHART_MAX_BYTES`` or runs past ``CHART_FETCH_TIMEOUT_SECONDS``. Git runs with no system or global
config, no prompts, only the https and git protocols (never file:// or a local path, also not through a
redirect or a submodule), symlinks checked out as plain files (a chart cannot point at the portal's own
files), and the host checked by the outbound guard first. The chart directory is then packaged here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path

import yaml
from django.conf import settings

from clusterjobs.charts.fetch import ChartFetchError, FetchedChart, RegistryAuth, chart_host
from pipelines import outbound

GIT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_POLL_SECONDS = 0.2


def split_git_ref(ref: str) -> tuple[str, str]:
    """``git+https://h/r.git//sub`` → (``https://h/r.git``, ``sub``)."""
    scheme, _, rest = ref.partition("://")
    repo, _, subpath = rest.partition("//")
    return f"{scheme.removeprefix('git+')}://{repo}", subpath.strip("/")


def _git_env(workdir: Path, auth: RegistryAuth | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "https:git",
    }
    config = {
        "protocol.allow": "never",
        "protocol.https.allow": "always",
        "protocol.git.allow": "always",
        "http.followRedirects": "false",
        "core.symlinks": "false",
        "core.hooksPath": os.devnull,
        "fetch.recurseSubmodules": "false",
    }
    if auth and auth.ca_pem:
        (workdir / "git-ca.pem").write_text(auth.ca_pem)
        config["http.sslCAInfo"] = str(workdir / "git-ca.pem")
    if auth and auth.username:  # in the environment (readable by this user only), never in argv
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        config["http.extraHeader"] = f"Authorization: Basic {token}"
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
    return env


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _run_bounded(command: list[str], env: dict[str, str], watch: Path, deadline: float) -> None:
    """Run git, killing it when ``watch`` grows past the size bound or the deadline passes."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    problem = ""
    while process.poll() is None:
        if time.monotonic() > deadline:
            problem = f"took longer than {settings.CHART_FETCH_TIMEOUT_SECONDS} s"
        elif _size(watch) > settings.GIT_CHART_MAX_BYTES:
            problem = f"is larger than {settings.GIT_CHART_MAX_BYTES} bytes"
        if problem:
            process.kill()
            process.wait()
            raise ChartFetchError(f"fetching the git repository {problem}")
        time.sleep(_POLL_SECONDS)
    stderr = (process.stderr.read() if process.stderr else b"").decode(errors="replace").strip()
    if process.returncode:
        raise ChartFetchError(f"git: {stderr.splitlines()[-1] if stderr else 'failed'}")


def _package(chart_dir: Path, workdir: Path) -> Path:
    """The chart directory as ``<name>-<version>.tgz`` (what ``helm package`` makes), symlinks left out."""
    try:
        metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    except (OSError, yaml.YAMLError):
        metadata = None
    if not isinstance(metadata, dict) or not metadata.get("name") or not metadata.get("version"):
        raise ChartFetchError("the path in the git repository holds no Helm chart (Chart.yaml)")
    name = str(metadata["name"])
    target = workdir / f"{name}-{metadata['version']}.tgz"
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(chart_dir.rglob("*")):
            if path.is_symlink() or not path.is_file() or ".git" in path.relative_to(chart_dir).parts:
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{name}/{path.relative_to(chart_dir).as_posix()}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


def fetch_git(ref: str, git_ref: str | None, *, auth: RegistryAuth | None, workdir: Path) -> FetchedChart:
    if not git_ref or not GIT_REF.match(git_ref) or ".." in git_ref:
        raise ChartFetchError("a git chart needs its git ref (tag, branch or commit) as the chart version")
    url, subpath = split_git_ref(ref)
    default_port = 9418 if url.startswith("git://") else 443
    host = chart_host(url)
    outbound.resolve_checked(host.rsplit(":", 1)[0], int(host.rsplit(":", 1)[1]) if ":" in host else default_port)
    repo = workdir / "git"
    env = _git_env(workdir, auth)
    deadline = time.monotonic() + settings.CHART_FETCH_TIMEOUT_SECONDS
    _run_bounded(["git", "init", "-q", str(repo)], env, repo.parent, deadline)
    fetch = ["git", "-C", str(repo), "fetch", "-q", "--depth", "1", "--no-tags", "--", url, git_ref]
    _run_bounded(fetch, env, repo, deadline)
    _run_bounded(["git", "-C", str(repo), "checkout", "-q", "FETCH_HEAD"], env, repo, deadline)
    chart_dir = (repo / subpath).resolve() if subpath else repo
    if not chart_dir.is_relative_to(repo.resolve()) or not chart_dir.is_dir():
        raise ChartFetchError(f"no directory {subpath!r} at {git_ref} in the git repository")
    archive = _package(chart_dir, workdir)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    version = str(yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"])
    return FetchedChart(archive, version, digest)
