"""Run Helm through pyhelm3 and the real ``helm`` binary.

One ``HelmRunner`` per job. Every call that talks to the cluster runs Helm against a per-call policy proxy
(``clusterjobs.helm.proxy``) on 127.0.0.1: Helm's 0600 temporary kubeconfig names only the proxy and a
random token, the proxy holds the cluster's real credentials and refuses whatever the job's policy does not
allow (other namespaces, cluster-scoped kinds, pods beyond the cluster's Pod Security Standards level).
Install = ``upgrade --install --atomic --wait --timeout`` (idempotent, so a retried task is harmless), after
the chart rendered with the same values (``helm template``) has passed the same checks early, so that a
plainly refused chart leaves nothing behind. pyhelm3's ``disable_validation`` is never used: 0.5.8 passes
the flag character by character.

Chart references:
- ``charts/<name>``: the chart bundled in ``settings.CHARTS_DIR/<name>``;
- ``oci://host/path/<chart>``: pulled from the OCI registry, ``chart_version`` as ``--version``;
- ``https://host/path/<chart>``: the chart ``<chart>`` in the classic Helm repository at
  ``https://host/path`` (the URL whose ``index.yaml`` lists it), i.e. ``--repo https://host/path <chart>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from pyhelm3 import Client, errors
from pyhelm3.command import Command, SafeLoader
from pyhelm3.models import Chart

from budportal.errors import ServiceValidationError
from clusterjobs import validators
from clusterjobs.charts.fetch import ChartFetchError, RegistryAuth, chart_host, chart_metadata, fetch_chart
from clusterjobs.charts.git import fetch_git
from clusterjobs.helm import subprocess_shim
from clusterjobs.helm.endpoints import discover_services, primary_endpoint
from clusterjobs.helm.manifests import check_manifests
from clusterjobs.helm.proxy import PolicyProxy
from clusterjobs.kubeconfig import parse_kubeconfig, secret_fragments
from clusterjobs.policy import yaml11
from clusterjobs.policy.pss import Level
from clusterjobs.policy.scope import Policy
from clusterjobs.redact import redact

subprocess_shim.install()

CANCEL_POLL_SECONDS = 0.5
GIT_SCHEMES = ("git+https://", "git://")
REMOTE_SCHEMES = ("https://", "oci://", *GIT_SCHEMES)
ANOTHER_OPERATION = "another operation (install/upgrade/rollback) is in progress"


class HelmError(Exception):
    """Helm failed; the message is Helm's own text with secrets redacted."""


class ManifestRejected(HelmError):
    """The rendered manifests ask for something the portal refuses (privileged pods, host namespaces...)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("rendered manifests refused: " + "; ".join(problems))


class HelmCancelled(HelmError):
    """The job was cancelled while Helm ran; the Helm process was terminated."""


@dataclass(frozen=True)
class ChartSource:
    ref: str
    version: str | None = None
    digest: str = ""  # sha256 of the fetched archive, for a remote chart


@contextlib.contextmanager
def kubeconfig_file(text: str) -> Iterator[Path]:
    """The kubeconfig as a 0600 file that exists only inside the ``with`` block."""
    fd, name = tempfile.mkstemp(prefix="budportal-kubeconfig-", suffix=".yaml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def split_https_ref(ref: str) -> tuple[str, str]:
    """``https://charts.example.com/path/<chart>`` → (``https://charts.example.com/path``, ``<chart>``)."""
    repo, _, chart = ref.rstrip("/").rpartition("/")
    return repo, chart


def run_cancellable(coro: Coroutine[Any, Any, Any], should_cancel: Callable[[], bool] | None) -> Any:
    """Run ``coro`` to completion; if ``should_cancel()`` turns true meanwhile, cancel it (pyhelm3 then
    terminates the helm process) and raise ``HelmCancelled``. ``should_cancel`` runs in this thread, so it
    may use the Django database; the event loop runs in a helper thread."""
    if should_cancel is None:
        return asyncio.run(coro)
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro)
    thread = threading.Thread(target=_drive, args=(loop, task), daemon=True)
    thread.start()
    cancelled = False
    while thread.is_alive():
        thread.join(CANCEL_POLL_SECONDS)
        if thread.is_alive() and not cancelled and should_cancel():
            cancelled = True
            loop.call_soon_threadsafe(task.cancel)
    loop.close()
    if cancelled and task.cancelled():
        raise HelmCancelled("cancelled while Helm was running; the helm process was stopped")
    return task.result()


def _drive(loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
    with contextlib.suppress(BaseException):  # the outcome is read from the task by the caller
        loop.run_until_complete(task)


@lru_cache(maxsize=8)
def _helm_version(executable: str) -> Any:  # a semver.Version
    return Command(executable=executable).client_version()


class _Client(Client):
    """pyhelm3's Client without its per-instance ``helm version`` call (~0.1 s of every job): the version of
    a given executable is asked once per process."""

    def __init__(self, *, executable: str, kubeconfig: Path, default_timeout: str):
        self.check_executable_exists(executable)
        self._command = Command(executable=executable, kubeconfig=kubeconfig, default_timeout=default_timeout)
        self.version = _helm_version(executable)


class HelmRunner:
    def __init__(
        self,
        *,
        kubeconfig: str,
        executable: str | None = None,
        level: Level = Level.BASELINE,
        allowed_cluster_kinds: frozenset[str] = frozenset(),
        registry_auth: dict[str, RegistryAuth] | None = None,
    ):
        self.kubeconfig = kubeconfig
        self._registry_auth = registry_auth or {}
        self._executable = executable or settings.HELM_BINARY
        self._level = Level(level)
        self._allowed_cluster_kinds = frozenset(allowed_cluster_kinds)
        self._proxy: PolicyProxy | None = None  # the last call's, read when its error is explained

    def policy(self, namespace: str) -> Policy:
        return Policy(namespace=namespace, level=self._level, allowed_cluster_kinds=self._allowed_cluster_kinds)

    @cached_property
    def _secrets(self) -> list[str]:
        # Parsed only when an error has to be redacted, not on every job.
        return secret_fragments(self.kubeconfig)

    @contextlib.contextmanager
    def _client(self, namespace: str | None) -> Iterator[Client]:
        """pyhelm3's client; with a namespace, its Helm talks to the cluster only through the policy proxy."""
        with contextlib.ExitStack() as stack:
            text = self.kubeconfig
            if namespace is not None:
                proxy = stack.enter_context(PolicyProxy(parse_kubeconfig(self.kubeconfig), self.policy(namespace)))
                self._proxy = proxy
                text = proxy.kubeconfig()
            path = stack.enter_context(kubeconfig_file(text))
            yield _Client(
                executable=self._executable,
                kubeconfig=path,
                default_timeout=f"{settings.HELM_DEFAULT_TIMEOUT_SECONDS}s",
            )

    def _error(self, exc: BaseException) -> HelmError:
        text = str(exc).strip() or exc.__class__.__name__
        if self._proxy is not None and self._proxy.not_ready and "context deadline exceeded" in text:
            waiting = ", ".join(f"{key} ({facts})" for key, facts in sorted(self._proxy.not_ready.items()))
            text += f"\n(still not ready when Helm gave up: {waiting})"
        if self._proxy is not None and self._proxy.unreachable:
            text += f"\n(the policy proxy could not reach the API server: {self._proxy.unreachable[-1]})"
        return HelmError(redact(text, self._secrets).removeprefix("Error: "))

    def _run(
        self,
        make: Callable[[Client], Coroutine[Any, Any, Any]],
        should_cancel: Callable[[], bool] | None = None,
        *,
        namespace: str | None,
    ) -> Any:
        try:
            with self._client(namespace) as client:
                return run_cancellable(make(client), should_cancel)
        except HelmError:
            raise
        except (errors.Error, AssertionError, OSError, ValueError) as exc:
            raise self._error(exc) from None
        except ServiceValidationError as exc:  # the stored kubeconfig no longer parses
            raise HelmError(f"the cluster's kubeconfig is not usable: {exc.errors[0]['msg']}") from None

    @contextlib.contextmanager
    def _local(self, chart: ChartSource) -> Iterator[ChartSource]:
        """A remote chart fetched once into a temp dir (``clusterjobs.charts.fetch``); a bundled one as is."""
        if not chart.ref.startswith(REMOTE_SCHEMES):
            yield chart
            return
        with tempfile.TemporaryDirectory(prefix="budportal-chart-") as workdir:
            try:
                fetch = fetch_git if chart.ref.startswith(GIT_SCHEMES) else fetch_chart
                fetched = fetch(
                    chart.ref,
                    chart.version,
                    auth=self._registry_auth.get(chart_host(chart.ref)),
                    workdir=Path(workdir),
                )
            except (ChartFetchError, OSError) as exc:  # OutboundRefused is an OSError
                raise HelmError(redact(str(exc), self._secrets)) from None
            yield ChartSource(str(fetched.path), fetched.version, digest=fetched.digest)

    # --- public ------------------------------------------------------------------------------------
    def render(
        self, *, chart: ChartSource, release_name: str, namespace: str, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``helm template``: the objects the release would create."""

        async def go(client: Client) -> list[dict[str, Any]]:
            resolved = await self._resolve(client, local)
            return await self._template(client, resolved, release_name, namespace, values)

        with self._local(chart) as local:
            return self._run(go, namespace=None)  # helm template does not contact the cluster

    def deploy(
        self,
        *,
        chart: ChartSource,
        release_name: str,
        namespace: str,
        values: dict[str, Any],
        timeout_seconds: int,
        should_cancel: Callable[[], bool] | None = None,
        create_namespace: bool = True,
    ) -> dict[str, Any]:
        """Render and check, then ``upgrade --install``; returns the job result (release, revision, endpoints)."""

        async def go(client: Client) -> dict[str, Any]:
            resolved = await self._resolve(client, local)
            rendered = await self._template(client, resolved, release_name, namespace, values)
            problems = check_manifests(rendered, policy=self.policy(namespace))
            if problems:
                raise ManifestRejected(problems)
            revision = await self._install(
                client, resolved, release_name, namespace, values, timeout_seconds, create_namespace
            )
            services = discover_services(await revision.resources(), namespace)
            return {
                "namespace": namespace,
                "release_name": release_name,
                "revision": revision.revision,
                "status": revision.status.value,
                "chart": chart.ref,
                "chart_version": resolved.metadata.version,
                "chart_digest": local.digest,
                "services": services,
                "endpoint_url": primary_endpoint(services),
            }

        with self._local(chart) as local:
            return self._run(go, should_cancel, namespace=namespace)

    def uninstall(
        self,
        *,
        release_name: str,
        namespace: str,
        timeout_seconds: int,
        should_cancel: Callable[[], bool] | None = None,
    ) -> None:
        """``helm uninstall --wait``; a release that is already gone is not an error."""

        async def go(client: Client) -> None:
            await client.uninstall_release(release_name, namespace=namespace, wait=True, timeout=f"{timeout_seconds}s")

        self._run(go, should_cancel, namespace=namespace)

    def manifest(self, *, release_name: str, namespace: str) -> list[dict[str, Any]]:
        """``helm get manifest``: the objects of the release's current revision; empty when there is none."""

        async def go(client: Client) -> list[dict[str, Any]]:
            try:
                revision = await client.get_current_revision(release_name, namespace=namespace)
            except errors.ReleaseNotFoundError:
                return []
            return [obj for obj in await revision.resources() if isinstance(obj, dict)]

        return self._run(go, namespace=namespace)

    # --- internals ---------------------------------------------------------------------------------
    async def _resolve(self, client: Client, chart: ChartSource) -> Chart:
        if chart.ref.startswith("charts/"):
            path = validators.bundled_chart_dir(chart.ref)
            if path is None:
                raise HelmError(f"bundled chart {chart.ref!r} does not exist in the charts directory")
            # Reading Chart.yaml directly saves a `helm show chart` process per job.
            metadata = yaml.load((path / "Chart.yaml").read_text(), Loader=SafeLoader)
            return Chart(client._command, ref=path, metadata=metadata)
        if chart.digest:  # fetched once by _local: template and install read this archive, never the network
            return Chart(client._command, ref=Path(chart.ref), metadata=chart_metadata(Path(chart.ref)))
        raise HelmError(f"chart ref {chart.ref!r} is not supported")

    @staticmethod
    async def _template(
        client: Client, chart: Chart, release_name: str, namespace: str, values: dict[str, Any]
    ) -> list[Any]:
        """``helm template`` (CRDs and hooks included, as an install sends them), read as the API server reads
        YAML; pyhelm3's own parser would take ``privileged: y`` for a string."""
        command = ["template", release_name, chart.ref, "--include-crds", "--values", "-", "--namespace", namespace]
        if chart.repo:
            command += ["--repo", chart.repo]
        if chart.metadata.version:
            command += ["--version", chart.metadata.version]
        text = await client._command.run(command, json.dumps(values or {}).encode())
        try:
            return yaml11.load_all(text)
        except yaml11.YAMLBodyError as exc:
            raise ManifestRejected([f"the rendered chart cannot be read unambiguously: {exc}"]) from None

    async def _install(
        self,
        client: Client,
        chart: Chart,
        release_name: str,
        namespace: str,
        values: dict[str, Any],
        timeout_seconds: int,
        create_namespace: bool = True,
    ):
        # Helm 4 renamed --atomic to --rollback-on-failure; pyhelm3 maps either, but warns unless asked right.
        rollback = {"atomic": True} if client.version.major < 4 else {"rollback_on_failure": True}
        kwargs = dict(
            namespace=namespace, create_namespace=create_namespace, wait=True, timeout=f"{timeout_seconds}s", **rollback
        )
        try:
            return await client.install_or_upgrade_release(release_name, chart, values, **kwargs)
        except errors.Error as exc:
            if ANOTHER_OPERATION not in str(exc):
                raise
        # A previous run was killed mid-operation: roll back / clear the pending release, then retry once.
        await client.get_proceedable_revision(release_name, namespace=namespace, timeout=kwargs["timeout"])
        return await client.install_or_upgrade_release(release_name, chart, values, **kwargs)
