"""Fetch a remote chart once per install into the job's temp dir, and keep it in a digest-addressed cache.

Before this, Helm fetched a remote chart up to three times per install (look-up, template, install). Now:
- ``https://host/path/<chart>``: the repository's ``index.yaml`` is read through the outbound guard (basic auth
  and the host's CA when the owner stored them), the version is resolved there (``^1.2``...), and the archive
  whose ``digest`` the index names is taken from the cache or downloaded once and checked against it;
- ``oci://``: the OCI distribution API through the same guard (basic auth, or the bearer-token dance), the
  version resolved from the tags, the chart layer's digest read from the manifest: a cached archive is used
  as is, any other is downloaded once and checked against the digest.
Template and install then use the local archive. The cache is bounded (``CHART_CACHE_MAX_BYTES``): the least
recently used archives are dropped first.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import ssl
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from django.conf import settings

from clusterjobs.charts.versions import is_exact, newest_first, newest_matching
from pipelines import outbound


class ChartFetchError(Exception):
    """The chart cannot be fetched; the message says why (never a credential)."""


@dataclass(frozen=True)
class RegistryAuth:
    username: str = ""
    password: str = ""
    ca_pem: str = ""


@dataclass(frozen=True)
class FetchedChart:
    path: Path
    version: str
    digest: str


def chart_host(ref: str) -> str:
    """``host[:port]`` of an ``https://`` or ``oci://`` ref: the key registry credentials are stored under."""
    parts = urlsplit(ref)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


# --- the cache ---------------------------------------------------------------------------------------------
def _cache_dir() -> Path:
    path = Path(settings.CHART_CACHE_DIR)
    (path / "refs").mkdir(parents=True, exist_ok=True)
    return path


def _cached(digest: str, workdir: Path) -> Path | None:
    source = _cache_dir() / f"{digest}.tgz"
    if not source.is_file() or _sha256(source) != digest:
        return None
    source.touch()  # least recently used goes first
    target = workdir / f"{digest}.tgz"
    shutil.copyfile(source, target)
    return target


def _store(path: Path, digest: str) -> None:
    cache = _cache_dir()
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
    os.close(fd)
    shutil.copyfile(path, tmp)
    os.replace(tmp, cache / f"{digest}.tgz")  # atomic: a concurrent install reads a whole archive or none
    _evict(cache)


def _evict(cache: Path) -> None:
    archives = sorted(cache.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in archives)
    for archive in archives:
        if total <= settings.CHART_CACHE_MAX_BYTES:
            break
        total -= archive.stat().st_size
        with contextlib.suppress(FileNotFoundError):
            archive.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def chart_metadata(path: Path) -> dict[str, Any]:
    """``Chart.yaml`` of a packaged chart, read without unpacking it."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                    if member.size > 1 << 20:
                        break
                    handle = archive.extractfile(member)
                    data = yaml.safe_load(handle.read()) if handle else None
                    if isinstance(data, dict) and data.get("name") and data.get("version"):
                        return data
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError):
        pass
    raise ChartFetchError("the fetched file is not a packaged Helm chart")


# --- https repositories ------------------------------------------------------------------------------------
def _opener(auth: RegistryAuth | None) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cadata=auth.ca_pem) if auth and auth.ca_pem else None
    return outbound.build_opener(ssl_context=context)


class _Unauthorized(ChartFetchError):
    def __init__(self, url: str, challenge: str):
        super().__init__(f"{url} answered HTTP 401 unauthorized")
        self.challenge = challenge


def _get(
    url: str,
    auth: RegistryAuth | None,
    host: str,
    limit: int,
    *,
    headers: dict[str, str] | None = None,
    basic_to: str | None = None,
) -> bytes:
    """GET through the outbound guard, at most ``limit`` bytes. Basic credentials go to ``basic_to`` (default:
    ``host``) only, and as an unredirected header: a redirect to a storage host never carries them."""
    request = urllib.request.Request(url, headers={"User-Agent": "budportal", **(headers or {})})
    if auth and auth.username and basic_to != "" and chart_host(url) == (basic_to or host):
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        request.add_unredirected_header("Authorization", f"Basic {token}")
    try:
        with outbound.urlopen(_opener(auth), request, timeout=settings.CHART_FETCH_TIMEOUT_SECONDS) as response:
            body = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise _Unauthorized(url, exc.headers.get("WWW-Authenticate", "")) from None
        raise ChartFetchError(f"{url} answered HTTP {exc.code}") from None
    except (OSError, ssl.SSLError) as exc:
        raise ChartFetchError(f"cannot fetch {url}: {exc}") from None
    if len(body) > limit:
        raise ChartFetchError(f"{url} is larger than {limit} bytes")
    return body


def repository_versions(repo: str, name: str, auth: RegistryAuth | None) -> list[dict[str, Any]]:
    """The index entries of chart ``name`` in the repository at ``repo``."""
    body = _get(f"{repo}/index.yaml", auth, chart_host(repo), settings.CHART_MAX_BYTES)
    try:
        index = yaml.safe_load(io.BytesIO(body))
    except yaml.YAMLError:
        raise ChartFetchError(f"{repo}/index.yaml is not a Helm repository index") from None
    entries = (index or {}).get("entries") if isinstance(index, dict) else None
    found = entries.get(name) if isinstance(entries, dict) else None
    if not isinstance(found, list) or not found:
        raise ChartFetchError(f"chart {name!r} not found in {repo}")
    return [e for e in found if isinstance(e, dict) and isinstance(e.get("version"), str)]


def resolve_https(repo: str, name: str, constraint: str | None, auth: RegistryAuth | None) -> dict[str, Any]:
    entries = repository_versions(repo, name, auth)
    version = _newest_or_refuse(f"{repo}/{name}", [e["version"] for e in entries], constraint)
    return next(e for e in entries if e["version"] == version)


def _fetch_https(ref: str, constraint: str | None, auth: RegistryAuth | None, workdir: Path) -> FetchedChart:
    repo, _, name = ref.rstrip("/").rpartition("/")
    entry = resolve_https(repo, name, constraint, auth)
    digest = str(entry.get("digest") or "")
    if digest and (hit := _cached(digest, workdir)):
        return FetchedChart(hit, entry["version"], digest)
    urls = entry.get("urls") or []
    if not urls or not isinstance(urls[0], str):
        raise ChartFetchError(f"the index lists no archive for {name} {entry['version']}")
    url = urljoin(f"{repo}/", urls[0])
    if not url.startswith("https://"):
        raise ChartFetchError(f"chart archive URL {url!r} is not https://")
    target = workdir / f"{name}-{entry['version']}.tgz"
    target.write_bytes(_get(url, auth, chart_host(repo), settings.CHART_MAX_BYTES))
    actual = _sha256(target)
    if digest and actual != digest:
        raise ChartFetchError(f"{url} does not match the digest its index lists")
    _store(target, actual)
    return FetchedChart(target, entry["version"], actual)


# --- OCI registries ----------------------------------------------------------------------------------------
# Pulled with the OCI distribution API through the outbound guard rather than by ``helm pull``: the host is
# checked on every connection (redirects too), the credentials never reach a helm process or a file, and the
# layer digest in the manifest is known before the archive is downloaded, so a cached chart is not fetched.
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"
_BEARER = re.compile(r'(\w+)="([^"]*)"')


def _bearer_token(challenge: str, auth: RegistryAuth | None, host: str) -> str:
    """The token a ``WWW-Authenticate: Bearer realm=...`` challenge asks for (ghcr.io, Harbor, ...)."""
    fields = dict(_BEARER.findall(challenge))
    realm = fields.pop("realm", "")
    if not realm.startswith("https://"):
        raise ChartFetchError("the registry asks for a token from a non-https realm")
    query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in fields.items())
    body = _get(f"{realm}?{query}" if query else realm, auth, chart_host(realm), 1 << 16, basic_to=chart_host(realm))
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    token = (answer or {}).get("token") or (answer or {}).get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise ChartFetchError("the registry's token service gave no token")
    return token


def _oci_get(url: str, auth: RegistryAuth | None, state: dict[str, str], limit: int, accept: str = "") -> bytes:
    host = chart_host(url)
    headers = {"Accept": accept} if accept else {}
    if state.get("bearer"):
        headers["Authorization"] = f"Bearer {state['bearer']}"
    try:
        return _get(url, auth, host, limit, headers=headers, basic_to="" if state.get("bearer") else host)
    except _Unauthorized as exc:
        if state.get("bearer") or not exc.challenge.lower().startswith("bearer "):
            raise ChartFetchError(f"{url} answered HTTP 401 unauthorized: store credentials for {host}") from None
        state["bearer"] = _bearer_token(exc.challenge[7:], auth, host)
        return _oci_get(url, auth, state, limit, accept)


def _fetch_oci(ref: str, constraint: str | None, auth: RegistryAuth | None, workdir: Path) -> FetchedChart:
    parts = urlsplit(ref)
    host, repository = chart_host(ref), parts.path.strip("/")
    base, state = f"https://{host}/v2/{repository}", dict[str, str]()
    if constraint and is_exact(constraint):
        version = constraint.removeprefix("v")
    else:
        version = _newest_or_refuse(ref, _oci_versions(base, ref, auth, state), constraint)
    tag = version.replace("+", "_")  # OCI tags cannot hold "+": helm pushes 1.0.0+build as 1.0.0_build
    manifest = _json(_oci_get(f"{base}/manifests/{tag}", auth, state, 1 << 20, MANIFEST_TYPES), ref)
    layers = [x for x in manifest.get("layers") or [] if isinstance(x, dict) and x.get("mediaType") == HELM_LAYER]
    digest = str(layers[0].get("digest") or "") if layers else ""
    if not digest.startswith("sha256:") or len(digest) != 71:
        raise ChartFetchError(f"{ref}:{version} is not a Helm chart (no chart layer)")
    hexdigest = digest.removeprefix("sha256:")
    if hit := _cached(hexdigest, workdir):
        return FetchedChart(hit, version, hexdigest)
    target = workdir / f"{repository.rsplit('/', 1)[-1]}-{version}.tgz"
    target.write_bytes(_oci_get(f"{base}/blobs/{digest}", auth, state, settings.CHART_MAX_BYTES))
    if _sha256(target) != hexdigest:
        raise ChartFetchError(f"{ref}:{version} does not match the digest its manifest lists")
    _store(target, hexdigest)
    return FetchedChart(target, version, hexdigest)


def _oci_versions(base: str, ref: str, auth: RegistryAuth | None, state: dict[str, str]) -> list[str]:
    tags = _json(_oci_get(f"{base}/tags/list?n=1000", auth, state, settings.CHART_MAX_BYTES), ref).get("tags")
    return [t.replace("_", "+") for t in tags or [] if isinstance(t, str)]


def _newest_or_refuse(ref: str, versions: list[str], constraint: str | None) -> str:
    found = newest_matching(versions, constraint)
    if found is None:
        available = ", ".join(newest_first(versions)[:20]) or "none"
        raise ChartFetchError(f"chart {ref} has no version matching {constraint!r}; available: {available}")
    return found


def available_versions(ref: str, *, auth: RegistryAuth | None) -> list[str]:
    """Every version the repository or registry offers for ``ref`` (raises ChartFetchError)."""
    if ref.startswith("https://"):
        repo, _, name = ref.rstrip("/").rpartition("/")
        return [e["version"] for e in repository_versions(repo, name, auth)]
    host, repository = chart_host(ref), urlsplit(ref).path.strip("/")
    return _oci_versions(f"https://{host}/v2/{repository}", ref, auth, {})


def _json(body: bytes, ref: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ChartFetchError(f"{ref}: the registry's answer is not JSON")
    return data


def fetch_chart(ref: str, constraint: str | None, *, auth: RegistryAuth | None, workdir: Path) -> FetchedChart:
    """The chart archive for ``ref`` at the newest version meeting ``constraint``, in ``workdir``."""
    if ref.startswith("https://"):
        fetched = _fetch_https(ref, constraint, auth, workdir)
    elif ref.startswith("oci://"):
        fetched = _fetch_oci(ref, constraint, auth, workdir)
    else:
        raise ChartFetchError(f"{ref!r} is not a remote chart ref")
    chart_metadata(fetched.path)  # a packaged chart, or refused before helm sees it
    return fetched
