"""Deployment create resolves a template name as the templates API does (own, then system) and accepts
BudUseCases' ``template_name`` alias."""

from __future__ import annotations

import pytest

from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment
from usecases.services.templates import template_create

pytestmark = pytest.mark.django_db


def document(name: str, description: str = "") -> dict:
    llm = {"name": "llm", "display_name": "LLM", "type": "model", "default_component": "llama-3-8b"}
    return {"name": name, "display_name": name, "description": description, "components": [llm]}


def post(client, **body):
    return client.post("/api/deployments", body, content_type="application/json")


@pytest.fixture
def cluster_id(sandbox, catalog) -> str:
    return str(sandbox.pk)


def test_template_name_is_an_alias_of_template(owner_api, cluster_id) -> None:
    response = post(owner_api, name="aliased", template_name="valkey-cache", cluster_id=cluster_id)
    assert response.status_code == 201, response.content
    assert UseCaseDeployment.objects.get(name="aliased").template.name == "valkey-cache"
    response = post(owner_api, name="both", template="valkey-cache", template_name="agent-rag", cluster_id=cluster_id)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["template_name"]
    assert not UseCaseDeployment.objects.filter(name="both").exists()


def test_my_template_shadows_the_system_one_and_others_private_ones_do_not_resolve(
    owner_api, owner, other_user, cluster_id
) -> None:
    mine = template_create(owner=owner, document=document("valkey-cache", "mine"))
    template_create(owner=other_user, document=document("secret-of-other"))
    assert post(owner_api, name="shadowed", template="valkey-cache", cluster_id=cluster_id).status_code == 201
    assert UseCaseDeployment.objects.get(name="shadowed").template == mine
    response = post(owner_api, name="probe", template="secret-of-other", cluster_id=cluster_id)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["template"]
    assert not UseCaseDeployment.objects.filter(name="probe").exists()
    assert UseCaseTemplate.objects.filter(name="valkey-cache", owner__isnull=True).exists()
