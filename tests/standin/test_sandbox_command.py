"""``manage.py sandbox_cluster``: the stand-in as the portal's simulated sandbox cluster."""

import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from clusterjobs.models import Cluster


def _helm_then_interrupt(helm: str, kubeconfig: Path, chart: Path, out: io.StringIO, results: list) -> None:
    """Once the command has registered the sandbox, install into it, then press Ctrl-C on the command."""
    deadline = time.monotonic() + 20
    while "egistered" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    results.append(
        subprocess.run(
            [
                helm,
                "--kubeconfig",
                str(kubeconfig),
                "upgrade",
                "--install",
                "demo",
                str(chart),
                "-n",
                "uc-12345678",
                "--create-namespace",
                "--wait",
                "--timeout",
                "20s",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    # SIGTERM, as scripts/portal.sh stops it: pytest-xdist workers ignore SIGINT (Ctrl-C belongs to the controller).
    signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


def _run_sandbox(helm: str, chart: Path, data_dir: Path, *args: str) -> tuple[str, subprocess.CompletedProcess]:
    results: list = []
    out = io.StringIO()
    helper = threading.Thread(
        target=_helm_then_interrupt, args=(helm, data_dir / "sandbox-kubeconfig.yaml", chart, out, results)
    )
    helper.start()
    try:
        call_command("sandbox_cluster", *args, stdout=out)
    finally:
        helper.join(timeout=60)
    return out.getvalue(), results[0]


@pytest.mark.django_db
def test_it_serves_a_sandbox_that_helm_installs_into_and_registers_it(
    settings, tmp_path, owner, helm_binary, demo_chart
) -> None:
    settings.DATA_DIR = tmp_path

    output, helm = _run_sandbox(helm_binary, demo_chart, tmp_path, "--owner", "owner")

    assert helm.returncode == 0, helm.stderr
    assert "Sandbox cluster (simulated: nothing runs) at http://127.0.0.1:" in output
    cluster = Cluster.objects.get(owner=owner, name="sandbox")
    assert cluster.is_sandbox
    server = yaml.safe_load(cluster.kubeconfig)["clusters"][0]["cluster"]["server"]
    assert server in output
    assert (
        server == yaml.safe_load((tmp_path / "sandbox-kubeconfig.yaml").read_text())["clusters"][0]["cluster"]["server"]
    )
    assert os.stat(tmp_path / "sandbox-kubeconfig.yaml").st_mode & 0o077 == 0
    assert "Sandbox cluster stopped." in output


@pytest.mark.django_db
def test_it_updates_the_admins_sandbox_on_restart(
    settings, tmp_path, django_user_model, helm_binary, demo_chart
) -> None:
    settings.DATA_DIR = tmp_path
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-123")

    _run_sandbox(helm_binary, demo_chart, tmp_path)
    second, helm = _run_sandbox(helm_binary, demo_chart, tmp_path)

    assert helm.returncode == 0, helm.stderr
    cluster = Cluster.objects.get(owner=admin)  # updated in place, not duplicated
    assert cluster.name == "sandbox"
    assert cluster.is_sandbox
    assert yaml.safe_load(cluster.kubeconfig)["clusters"][0]["cluster"]["server"] in second
