"""The component catalog: what a selectable component (``llama-3-8b``, ``qdrant``, ``valkey``) installs.

Loaded once from ``usecases/catalog/components.yaml``. Every non-helm template component becomes a Helm
release of the chart named here, with these values merged under the template's own component values.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from clusterjobs.validators import find_blocked_values, validate_chart_ref
from usecases.template_schema import load_yaml

CATALOG_TYPES = ("model", "embedder", "reranker", "vector_db", "memory_store")
# Which catalog entries a template component of each type may select. ``llm`` is BudUseCases' alias of model.
COMPATIBLE_TYPES: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "llm": ("model",),
    "embedder": ("embedder",),
    "reranker": ("reranker",),
    "vector_db": ("vector_db",),
    "memory_store": ("memory_store",),
}


def catalog_path() -> Path:
    return Path(settings.USECASE_CATALOG_DIR) / "components.yaml"


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, dict[str, Any]]:
    data = load_yaml(path.read_bytes()) or {}
    return {name: _entry(name, raw) for name, raw in (data.get("components") or {}).items()}


def _entry(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "type": raw["type"],
        "display_name": raw.get("display_name") or name,
        "description": raw.get("description", ""),
        "chart": {"ref": raw["chart"], "version": raw.get("version"), "values": raw.get("values") or {}},
        "resources": raw.get("resources") or {},
    }


# Types whose chart is a server for the entry (a model served by vLLM): a different chart name is expected.
SERVED_TYPES = ("model", "embedder", "reranker")


def installs_instead(entry: dict[str, Any]) -> str | None:
    """The product an entry really installs when it is not the one its name says ("milvus" installs the qdrant
    chart), so the wizard can say so before the plan; None when the entry installs what it is called."""
    if entry.get("type") in SERVED_TYPES:
        return None
    installs = str((entry.get("chart") or {}).get("ref") or "").rstrip("/").rsplit("/", 1)[-1]
    return installs if installs and installs not in str(entry.get("name", "")) else None


def all_components() -> dict[str, dict[str, Any]]:
    """Every catalog entry by name (copies: callers may change them freely)."""
    return copy.deepcopy(_load(catalog_path()))


def resolve_component(name: str) -> dict[str, Any] | None:
    """``{"name", "type", "display_name", "description", "chart": {"ref", "version", "values"}, "resources"}``
    for a catalog component, or None when the name is unknown."""
    entry = _load(catalog_path()).get(name)
    return copy.deepcopy(entry) if entry is not None else None


def components_of_type(component_type: str) -> list[dict[str, Any]]:
    """Catalog entries a template component of this type may select (``llm`` and ``model`` are the same)."""
    wanted = COMPATIBLE_TYPES.get(component_type, ())
    return [copy.deepcopy(e) for e in _load(catalog_path()).values() if e["type"] in wanted]


def is_compatible(component_type: str, catalog_name: str) -> bool:
    entry = _load(catalog_path()).get(catalog_name)
    return entry is not None and entry["type"] in COMPATIBLE_TYPES.get(component_type, ())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: nested dicts merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def catalog_errors(*, charts_dir: Path | None = None) -> list[str]:
    """Problems in the catalog file itself (unknown type, bad chart ref, blocked values); empty when sound."""
    errors = []
    for name, entry in _load(catalog_path()).items():
        if entry["type"] not in CATALOG_TYPES:
            errors.append(f"{name}.type: must be one of {', '.join(CATALOG_TYPES)}")
        ref_error = validate_chart_ref(entry["chart"]["ref"], charts_dir=charts_dir)
        if ref_error:
            errors.append(f"{name}.chart: {ref_error}")
        errors.extend(e["msg"] for e in find_blocked_values(entry["chart"]["values"], (name, "values")))
    return errors
