"""Reusable fixtures for tests that run the real ``helm`` against the Kubernetes API stand-in.

Registered from ``tests/conftest.py`` (``pytest_plugins``). The stand-in is a contract fake: Helm sees a
cluster that accepts, stores and reports objects ready; nothing runs.
"""

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from clusterjobs.standin import KubeStandIn

ROOT = Path(__file__).resolve().parent.parent
HELM4_VERSION = "4.1.4"


def _install_helm_module():
    spec = importlib.util.spec_from_file_location("install_helm", ROOT / "scripts" / "install_helm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kube_standin() -> Iterator[KubeStandIn]:
    """A started stand-in on an ephemeral 127.0.0.1 port, stopped after the test."""
    standin = KubeStandIn(host="127.0.0.1", port=0, controllers=True).start()
    yield standin
    standin.stop()


@pytest.fixture
def kubeconfig_file(kube_standin: KubeStandIn, tmp_path: Path) -> Path:
    """A 0600 kubeconfig file pointing at ``kube_standin``."""
    return kube_standin.write_kubeconfig(tmp_path / "kubeconfig.yaml")


@pytest.fixture(scope="session")
def helm_binary() -> str:
    """The pinned Helm 3 (``HELM_BINARY`` from the environment, else ``settings.HELM_BINARY``)."""
    path = os.environ.get("HELM_BINARY") or settings.HELM_BINARY
    if not Path(path).is_file():
        pytest.fail(f"helm binary not found at {path}: run scripts/test.sh (it installs the pinned helm)")
    return path


@pytest.fixture(scope="session")
def helm4_binary() -> str:
    """Helm 4.1.4 in ``.venv/helm4/helm``, installed (checksum-verified) on first use."""
    return str(_install_helm_module().install(ROOT / ".venv" / "helm4", HELM4_VERSION))
