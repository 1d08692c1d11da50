"""The catalog against the real bundled charts and the real helm binary: what a deployment would install."""

import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings

from pipelines.params import render
from usecases.component_catalog import all_components, deep_merge
from usecases.template_schema import STEP_OUTPUTS, load_yaml
from usecases.validation.templates import resolve_parameter_values

REAL_CHARTS = Path(django_settings.BASE_DIR) / "charts"
TEMPLATES = sorted((Path(django_settings.USECASE_CATALOG_DIR) / "templates").glob("*.yaml"))


def helm_template(chart: str, values: dict, tmp_path: Path) -> str:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [django_settings.HELM_BINARY, "template", "release", str(REAL_CHARTS / chart.removeprefix("charts/")),
         "--namespace", "uc-0123abcd", "-f", str(values_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", sorted(all_components()))
def test_every_catalog_component_renders_with_its_chart(name: str, tmp_path: Path) -> None:
    entry = all_components()[name]
    manifests = list(yaml.safe_load_all(helm_template(entry["chart"]["ref"], entry["chart"]["values"], tmp_path)))
    assert any(m and m["kind"] == "Service" for m in manifests)


def _context(template: dict) -> dict:
    outputs = {key: f"<{key}>" for key in STEP_OUTPUTS}
    names = [c["name"] for c in template["components"]]
    steps = {name: {"outputs": {**outputs, "endpoint_url": f"http://{name}:80"}} for name in names}
    parameters = resolve_parameter_values(template.get("parameters", {}), {})
    deployment = {"id": "0123abcd-0000-0000-0000-000000000000", "name": "demo", "namespace": "uc-0123abcd"}
    return {"steps": steps, "parameters": parameters, "params": parameters, "deployment": deployment}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_every_catalog_template_renders_its_charts_with_default_parameters(path: Path, tmp_path: Path) -> None:
    template = load_yaml(path.read_bytes())
    context = _context(template)
    for component in template["components"]:
        if component["type"] == "helm":
            chart, values = component["chart"]["ref"], component["chart"]["values"]
        else:
            entry = all_components()[component["default_component"]]
            chart, values = entry["chart"]["ref"], deep_merge(entry["chart"]["values"], component.get("values", {}))
        rendered = render(values, context)
        assert "{{" not in yaml.safe_dump(rendered)
        helm_template(chart, rendered, tmp_path)
