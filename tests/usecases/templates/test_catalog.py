import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.core.management import call_command

from usecases.catalog_sync import autoload_catalog, template_sync_catalog
from usecases.component_catalog import (
    all_components,
    catalog_errors,
    components_of_type,
    deep_merge,
    resolve_component,
)
from usecases.models import UseCaseTemplate
from usecases.template_schema import load_yaml
from usecases.validation.templates import validate_template
from tests.usecases.templates.conftest import make_template

CATALOG = Path(django_settings.USECASE_CATALOG_DIR)
REAL_CHARTS = Path(django_settings.BASE_DIR) / "charts"
CATALOG_NAMES = ["agent-memory", "agent-rag", "rag-chatbot", "valkey-cache"]


@pytest.fixture
def catalog_copy(tmp_path: Path, settings) -> Path:
    """A writable copy of the catalog that the sync command reads."""
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG, copy)
    settings.USECASE_CATALOG_DIR = copy
    return copy


def run_sync() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_templates", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_resolves_catalog_components_to_bundled_charts() -> None:
    llama = resolve_component("llama-3-8b")
    assert llama["type"] == "model"
    assert llama["chart"] == {
        "ref": "charts/vllm",
        "version": None,
        "values": {"model": "meta-llama/Meta-Llama-3-8B-Instruct", "replicaCount": 1, "port": 8000,
                   "resources": {"gpu": 1, "cpu": "4", "memory": "24Gi"}},
    }  # fmt: skip
    assert resolve_component("qdrant")["chart"]["ref"] == "charts/qdrant"
    assert resolve_component("bge-small")["chart"]["ref"] == "charts/text-embeddings"
    assert resolve_component("valkey")["chart"]["values"]["port"] == 6379
    assert resolve_component("nope") is None


def test_it_hands_out_copies_of_catalog_entries() -> None:
    resolve_component("qdrant")["chart"]["values"]["port"] = 1
    assert resolve_component("qdrant")["chart"]["values"]["port"] == 6333


def test_it_lists_components_by_type_with_llm_as_model() -> None:
    assert {c["name"] for c in components_of_type("llm")} == {"llama-3-8b", "llama-3-70b", "mistral-7b"}
    assert {c["name"] for c in components_of_type("vector_db")} == {"qdrant", "milvus"}
    assert {c["name"] for c in components_of_type("memory_store")} == {"valkey", "redis"}
    assert [c["name"] for c in components_of_type("reranker")] == ["bge-reranker"]
    assert components_of_type("helm") == []


def test_it_deep_merges_values() -> None:
    base = {"persistence": {"enabled": True, "size": "10Gi"}, "port": 6333}
    assert deep_merge(base, {"persistence": {"size": "50Gi"}, "extra": [1]}) == {
        "persistence": {"enabled": True, "size": "50Gi"}, "port": 6333, "extra": [1],
    }  # fmt: skip
    assert base["persistence"]["size"] == "10Gi"


def test_every_catalog_entry_and_template_is_valid_against_the_real_charts() -> None:
    bundled = {p.name for p in REAL_CHARTS.iterdir() if (p / "Chart.yaml").exists()}
    assert bundled >= {"agent-runtime", "qdrant", "text-embeddings", "valkey", "vllm"}
    assert catalog_errors(charts_dir=REAL_CHARTS) == []
    for path in sorted((CATALOG / "templates").glob("*.yaml")):
        validated = validate_template(load_yaml(path.read_bytes()), system=True, charts_dir=REAL_CHARTS)
        assert validated.name == path.stem


def _schema_has(schema: dict, path: list[str]) -> bool:
    for key in path:
        props = schema.get("properties", {})
        if key not in props:
            return False
        schema = props[key]
    return True


def _leaf_paths(values: dict, prefix: tuple = ()) -> list[list[str]]:
    paths = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            paths += _leaf_paths(value, (*prefix, key))
        else:
            paths.append([*prefix, key])
    return paths


def test_every_catalog_value_is_a_key_the_bundled_chart_declares() -> None:
    for name, entry in all_components().items():
        chart = REAL_CHARTS / entry["chart"]["ref"].removeprefix("charts/")
        schema = json.loads((chart / "values.schema.json").read_text())
        for path in _leaf_paths(entry["chart"]["values"]):
            assert _schema_has(schema, path), f"{name}: {'.'.join(path)} is not in {chart.name}'s values schema"


@pytest.mark.django_db
def test_it_loads_the_catalog_as_public_system_templates_idempotently(catalog_copy: Path) -> None:
    out, err = run_sync()
    assert "4 created, 0 updated, 0 unchanged, 0 refused" in out, err
    templates = UseCaseTemplate.objects.order_by("name")
    assert [t.name for t in templates] == CATALOG_NAMES
    assert {(t.source, t.visibility, t.owner_id) for t in templates} == {("system", "public", None)}
    agent_rag = templates.get(name="agent-rag")
    assert agent_rag.waves == [["vector_db", "llm"], ["agent_runtime"]]
    assert agent_rag.component("agent_runtime")["chart"]["ref"] == "charts/agent-runtime"
    stamps = {t.name: t.updated_at for t in templates}

    out, _ = run_sync()
    assert "0 created, 0 updated, 4 unchanged" in out
    assert {t.name: t.updated_at for t in UseCaseTemplate.objects.all()} == stamps


@pytest.mark.django_db
def test_it_updates_changed_catalog_files(catalog_copy: Path) -> None:
    run_sync()
    path = catalog_copy / "templates" / "valkey-cache.yaml"
    data = yaml.safe_load(path.read_text())
    data["display_name"] = "Valkey Cache v2"
    path.write_text(yaml.safe_dump(data))
    out, _ = run_sync()
    assert "updated: valkey-cache" in out and "0 created, 1 updated, 3 unchanged" in out
    assert UseCaseTemplate.objects.get(name="valkey-cache").display_name == "Valkey Cache v2"


@pytest.mark.django_db
def test_it_refuses_an_invalid_catalog_file_and_loads_the_others(catalog_copy: Path) -> None:
    (catalog_copy / "templates" / "broken.yaml").write_text(
        "name: broken\ndisplay_name: Broken\ncomponents:\n"
        "  - {name: app, type: helm, chart: {ref: 'oci://x; rm -rf /'}}\n"
    )
    (catalog_copy / "templates" / "misnamed.yaml").write_text(
        (catalog_copy / "templates" / "valkey-cache.yaml").read_text()
    )
    out, err = run_sync()
    assert "4 created, 0 updated, 0 unchanged, 2 refused" in out
    assert "refused broken.yaml" in err and "components[0].chart.ref" in err
    assert "must match the file name 'misnamed'" in err
    assert not UseCaseTemplate.objects.filter(name="broken").exists()


@pytest.mark.django_db
def test_it_never_touches_a_custom_template_with_a_catalog_name(catalog_copy: Path, owner) -> None:
    # Names are per owner: the user's own "agent-rag" and the system one live side by side.
    custom = make_template(owner, "agent-rag", display_name="Mine")
    out, err = run_sync()
    assert "4 created" in out and "0 refused" in out and not err
    custom.refresh_from_db()
    assert (custom.source, custom.owner, custom.display_name) == ("custom", owner, "Mine")
    system = UseCaseTemplate.objects.get(name="agent-rag", owner__isnull=True)
    assert system.source == "system" and system.display_name != "Mine"


@pytest.mark.django_db
def test_it_exits_non_zero_in_strict_mode_when_a_file_is_refused(catalog_copy: Path) -> None:
    (catalog_copy / "templates" / "broken.yaml").write_text("name: [\n")
    with pytest.raises(SystemExit):
        call_command("sync_templates", "--strict", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_it_autoloads_the_catalog_on_first_migrate_only(settings) -> None:
    settings.USECASE_CATALOG_AUTOLOAD = True
    autoload_catalog()
    assert UseCaseTemplate.objects.filter(source="system").count() == 4
    UseCaseTemplate.objects.filter(name="valkey-cache").delete()
    autoload_catalog()  # templates exist: nothing reloaded
    assert UseCaseTemplate.objects.count() == 3


@pytest.mark.django_db
def test_it_does_not_autoload_when_disabled() -> None:
    autoload_catalog()
    assert not UseCaseTemplate.objects.exists()


@pytest.mark.django_db
def test_it_exports_templates_that_round_trip_through_validation(catalog_copy: Path) -> None:
    template_sync_catalog()
    for template in UseCaseTemplate.objects.all():
        again = validate_template(load_yaml(template.to_yaml()), system=True)
        assert again.model_fields() == {f: getattr(template, f) for f in UseCaseTemplate.DOCUMENT_FIELDS}
