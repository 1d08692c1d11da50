"""An action shipped by a separate installed package, found through the ``budportal.actions`` entry point.

The package is tests/plugin_pkg (its own pyproject). The shared virtualenv must not be changed, so the test
installs it the way pip lays out an install, without pip: the package directory goes on ``sys.path`` and a
``budportal_echo_plugin-0.1.0.dist-info`` (METADATA + entry_points.txt made from the pyproject's entry
points) beside it, so ``importlib.metadata`` discovers it for real. In CI ``pip install tests/plugin_pkg``
does the same; this test then finds the installed copy as well.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.actions import registry
from pipelines.models import PipelineExecution
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugin_pkg"


def install_without_pip(site: Path) -> None:
    """Lay the plugin out in ``site`` as an installed distribution: its package and a dist-info."""
    project = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text())["project"]
    shutil.copytree(PLUGIN_DIR / "budportal_echo_plugin", site / "budportal_echo_plugin")
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, points in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in points.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def plugin_installed(tmp_path: Path) -> Iterator[None]:
    site = tmp_path / "site-packages"
    site.mkdir()
    install_without_pip(site)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    saved = dict(registry._registry), registry._plugins_loaded
    registry._plugins_loaded = False  # discover again, as a fresh worker process does
    try:
        yield
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("budportal_echo_plugin", None)
        registry._registry.clear()
        registry._registry.update(saved[0])
        registry._plugins_loaded = saved[1]
        importlib.invalidate_caches()


def test_without_the_package_the_action_is_unknown(owner_api) -> None:
    assert registry.get_action("plugin_echo") is None
    body = dag(step("e", "plugin_echo", params={"text": "hi"}))
    assert owner_api.post("/api/executions/validate", body, content_type="application/json").json()["valid"] is False
    assert not PipelineExecution.objects.exists()


def test_an_installed_plugin_action_is_listed_validated_and_runs(plugin_installed, owner_api, run) -> None:
    meta = owner_api.get("/api/actions/plugin_echo").json()
    assert meta["version"] == "0.1.0"
    assert meta["category"] == "Plugins"
    assert meta["output_definitions"] == [{"name": "echo", "type": "string", "description": ""}]
    missing = dag(step("e", "plugin_echo", params={}))
    errors = owner_api.post("/api/executions/validate", missing, content_type="application/json").json()["errors"]
    assert errors[0]["loc"][-1] == "text"
    execution = run(
        dag(
            step("e", "plugin_echo", params={"text": "hello", "shout": True}),
            step("after", "log", ["e"], params={"message": "{{ steps.e.outputs.echo }}!"}),
        )
    )
    assert execution.status == "COMPLETED"
    assert execution.steps.get(step_id="after").outputs == {"message": "HELLO!"}
    assert type(registry.get_action("plugin_echo")).__module__ == "budportal_echo_plugin"


def test_a_broken_plugin_does_not_take_the_registry_down(plugin_installed, tmp_path: Path) -> None:
    broken = tmp_path / "site-packages" / "budportal_echo_plugin" / "__init__.py"
    broken.write_text("raise ImportError('broken plugin')\n")
    sys.modules.pop("budportal_echo_plugin", None)
    assert registry.get_action("plugin_echo") is None
    assert registry.get_action("log") is not None
