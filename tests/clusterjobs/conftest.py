"""Fixtures for the clusterjobs tests: kubeconfigs, clusters, and the test charts in tests/clusterjobs/charts."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterjobs import services

TEST_CHARTS = Path(__file__).parent / "charts"
SECRET_TOKEN = "kube-token-s3cr3t-0123456789abcdef"


def make_kubeconfig(server: str = "https://127.0.0.1:1", token: str = SECRET_TOKEN, **cluster_extra) -> str:
    extra = "".join(f"\n    {key}: {value}" for key, value in cluster_extra.items())
    return f"""apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {{cluster: dev-cluster, user: dev-user}}
clusters:
- name: dev-cluster
  cluster:
    server: {server}{extra}
users:
- name: dev-user
  user:
    token: {token}
"""


@pytest.fixture
def kubeconfig_text() -> str:
    return make_kubeconfig()


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return services.cluster_create(owner=owner, name="prod", kubeconfig=kubeconfig_text,
                                   ingress_url="https://apps.example.com")


@pytest.fixture
def test_charts(settings) -> Path:
    """Bundled-chart refs (charts/<name>) resolve to tests/clusterjobs/charts for the test."""
    settings.CHARTS_DIR = TEST_CHARTS
    return TEST_CHARTS
