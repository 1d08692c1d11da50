import copy
from pathlib import Path
from typing import Any

import pytest

from usecases.models import UseCaseTemplate
from usecases.services.templates import template_create

BUNDLED = ("vllm", "qdrant", "valkey", "text-embeddings", "agent-runtime", "mychart")

AGENT_DOC: dict[str, Any] = {
    "name": "my-agent",
    "display_name": "My Agent",
    "version": "1.0.0",
    "description": "An agent",
    "category": "agent",
    "tags": ["agent", "rag"],
    "components": [
        {"name": "vector_db", "display_name": "Vector DB", "type": "vector_db", "default_component": "qdrant",
         "compatible_components": ["qdrant", "milvus"]},
        {"name": "llm", "display_name": "LLM", "type": "model", "default_component": "llama-3-8b"},
        {"name": "agent_runtime", "display_name": "Agent", "type": "helm",
         "chart": {"ref": "charts/mychart", "version": "1.2.0", "values": {
             "llm_endpoint": "{{ steps.llm.outputs.endpoint_url }}",
             "vectordb_endpoint": "{{ steps.vector_db.outputs.endpoint_url }}",
             "concurrency": "{{ parameters.agent_concurrency }}",
         }}},
    ],
    "parameters": {"agent_concurrency": {"type": "integer", "default": 4, "min": 1, "max": 32}},
    "deployment_order": [["vector_db", "llm"], "agent_runtime"],
}  # fmt: skip


@pytest.fixture(autouse=True)
def charts_dir(tmp_path: Path, settings) -> Path:
    """A charts dir holding the bundled chart names, so tests do not depend on the real charts/."""
    root = tmp_path / "charts"
    for name in BUNDLED:
        (root / name).mkdir(parents=True)
        (root / name / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    settings.CHARTS_DIR = root
    return root


@pytest.fixture
def doc() -> dict[str, Any]:
    """A valid custom template document (a fresh copy per test)."""
    return copy.deepcopy(AGENT_DOC)


def make_template(owner, name: str, *, visibility: str = "private", **changes: Any) -> UseCaseTemplate:
    document = {**copy.deepcopy(AGENT_DOC), "name": name, **changes}
    return template_create(owner=owner, document=document, visibility=visibility)


def make_system_template(name: str = "sys-template") -> UseCaseTemplate:
    template = UseCaseTemplate(source=UseCaseTemplate.Source.SYSTEM, visibility="public")
    template.apply_document({**copy.deepcopy(AGENT_DOC), "name": name, "resources": {}})
    template.save()
    return template
