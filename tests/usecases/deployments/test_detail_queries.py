"""GET /api/deployments/{id} reads the deployment in two statements (the deployment with its owner and latest
revision status; its components), whatever the number of components, and a remembered bearer token adds none."""

from __future__ import annotations

import pytest
from django.test import Client

from budportal.auth import token_cache
from budportal.models import ApiToken
from usecases.models.deployments import ComponentDeployment, DeploymentRevision, RevisionStatus, UseCaseDeployment

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("components", [1, 8])
def test_the_detail_get_costs_two_statements(owner, components, django_assert_num_queries) -> None:
    token_cache.clear()
    deployment = UseCaseDeployment.objects.create(
        name="demo", owner=owner, template_name="t", template_version="1", namespace="ns"
    )
    for i in range(components):
        ComponentDeployment.objects.create(deployment=deployment, component_name=f"c{i}", component_type="helm")
    DeploymentRevision.objects.create(deployment=deployment, number=1, status=RevisionStatus.FAILED)
    _, raw = ApiToken.issue(user=owner, name="detail")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"/api/deployments/{deployment.pk}").status_code == 200  # the token is now remembered

    with django_assert_num_queries(2):
        body = client.get(f"/api/deployments/{deployment.pk}").json()

    assert len(body["components"]) == components
    assert body["owner"] == owner.username
    assert body["last_apply_failed"] is True
