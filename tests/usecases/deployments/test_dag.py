"""The DAG builder: waves, reference edges, strict chains, names; and that the engine accepts what it builds."""

from __future__ import annotations

import pytest

from pipelines.validation import validate_dag
from usecases.dag import build_dag, release_name
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment
from usecases.services.templates import template_create

pytestmark = pytest.mark.django_db


def deps(dag: dict) -> dict[str, list[str]]:
    return {s["id"]: s["depends_on"] for s in dag["steps"]}


def custom(owner, name: str, **changes) -> UseCaseTemplate:
    document = UseCaseTemplate.objects.get(name="agent-rag").to_document()
    document.update(name=name, **changes)
    return template_create(owner=owner, document=document)


def test_it_builds_health_then_waves_then_notify(create):
    dag = build_dag(deployment=UseCaseDeployment.objects.get(pk=create()["id"]))
    assert [s["id"] for s in dag["steps"]] == ["cluster_health", "vector_db", "llm", "agent_runtime", "notify_complete"]
    assert deps(dag)["notify_complete"] == ["agent_runtime"]
    assert [s["action"] for s in dag["steps"]] == [
        "cluster_health",
        "deployment_create",
        "deployment_create",
        "helm_deploy",
        "notification",
    ]
    assert dag["callback_topics"] == ["budusecasesEvents"]
    assert dag["deployment"]["name"] == "my-rag"
    assert validate_dag(dag) == []


def test_it_builds_a_strict_chain_from_a_plain_order(create, owner):
    custom(owner, "rag-chain", deployment_order=["vector_db", "llm", "agent_runtime"])
    dag = build_dag(deployment=UseCaseDeployment.objects.get(pk=create(template="rag-chain")["id"]))
    assert deps(dag) == {
        "cluster_health": [],
        "vector_db": ["cluster_health"],
        "llm": ["vector_db"],
        "agent_runtime": ["llm", "vector_db"],
        "notify_complete": ["agent_runtime"],
    }


def test_it_adds_an_edge_for_every_referenced_step_beyond_the_previous_wave(create, owner):
    custom(owner, "rag-three", deployment_order=["vector_db", "llm", "agent_runtime"])
    dag = build_dag(deployment=UseCaseDeployment.objects.get(pk=create(template="rag-three")["id"]))
    # agent_runtime follows llm (previous wave) and also references vector_db two waves back.
    assert deps(dag)["agent_runtime"] == ["llm", "vector_db"]


def test_it_passes_helm_values_with_jinja_for_the_engine_and_names_releases_as_dns_labels(create):
    dag = build_dag(deployment=UseCaseDeployment.objects.get(pk=create()["id"]))
    agent = next(s for s in dag["steps"] if s["id"] == "agent_runtime")
    assert agent["params"]["values"]["llm_endpoint"] == "{{ steps.llm.outputs.endpoint_url }}"
    assert agent["params"]["release_name"] == "my-rag-agent-runtime"
    assert agent["params"]["namespace"] == dag["deployment"]["namespace"]
    llm = next(s for s in dag["steps"] if s["id"] == "llm")
    assert llm["params"]["selected_component"] == "llama-3-8b"
    assert llm["params"]["component_type"] == "model"


def test_it_keeps_release_names_within_helms_limit():
    name = release_name("a" * 40, "b" * 30)
    assert len(name) <= 53
    assert not name.endswith("-")
