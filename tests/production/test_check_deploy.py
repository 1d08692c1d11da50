"""``manage.py check --deploy`` is clean with the environment the portal's chart gives its pods.

The environment is taken from the real ``helm template`` output (plain values and the Secret's keys), so the
chart and ``budportal/settings.py`` cannot drift apart unnoticed.
"""

import base64
import subprocess
from typing import Any

import pytest
import yaml

from tests.production.conftest import PYTHON, ROOT, clean_env

CHART = ROOT / "charts" / "budportal"


def _chart_env(helm_binary: str, *args: str) -> dict[str, str]:
    """The web container's environment as the pods would see it, Secret references resolved."""
    result = subprocess.run(
        [helm_binary, "template", "rel", str(CHART), "-f", str(CHART / "ci" / "test-values.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    secrets = {doc["metadata"]["name"]: doc.get("data", {}) for doc in docs if doc["kind"] == "Secret"}
    web = next(doc for doc in docs if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "rel-budportal")
    return dict(_resolve(item, secrets) for item in web["spec"]["template"]["spec"]["containers"][0]["env"])


def _resolve(item: dict[str, Any], secrets: dict[str, dict[str, str]]) -> tuple[str, str]:
    if "value" in item:
        return item["name"], item["value"]
    ref = item["valueFrom"]["secretKeyRef"]
    encoded = secrets[ref["name"]].get(ref["key"], "")
    return item["name"], base64.b64decode(encoded).decode()


def _check_deploy(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(**{**env, "BUDPORTAL_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_passes_check_deploy_with_the_charts_production_settings(helm_binary, tmp_path) -> None:
    env = _chart_env(helm_binary)
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"].startswith("postgres://")

    result = _check_deploy(env, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_warns_when_production_settings_are_weakened(helm_binary, tmp_path) -> None:
    env = _chart_env(helm_binary, "--set", "settings.secureSslRedirect=false", "--set", "settings.hstsSeconds=0")

    result = _check_deploy(env, tmp_path)

    assert result.returncode != 0
    assert "security.W008" in result.stderr
    assert "security.W004" in result.stderr


@pytest.mark.parametrize("secret_key", ["", "dev-insecure-change-me-" + "x" * 40])
def test_it_refuses_to_start_without_a_real_secret_key(secret_key: str, tmp_path) -> None:
    env = {"DEBUG": "false", "SECRET_KEY": secret_key, "ALLOWED_HOSTS": "portal.example.com"}

    result = _check_deploy(env, tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
