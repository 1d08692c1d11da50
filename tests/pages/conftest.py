import pytest
from django.core.management import call_command
from django.test import Client

from clusterjobs.services import cluster_create
from usecases.services.templates import template_create

HELM_TEMPLATE = {
    "name": "my-agent",
    "display_name": "My agent",
    "category": "agent",
    "tags": ["mine"],
    "components": [
        {"name": "store", "type": "memory_store", "default_component": "valkey", "compatible_components": ["valkey"]},
        {
            "name": "agent",
            "type": "helm",
            "chart": {
                "ref": "charts/agent-runtime",
                "values": {
                    "replicaCount": "{{ parameters.replicas }}",
                    "memory_url": "{{ steps.store.outputs.endpoint_url }}",
                },
            },
        },
    ],
    "parameters": {"replicas": {"type": "integer", "default": 1, "min": 1, "max": 5}},
    "deployment_order": ["store", "agent"],
}


@pytest.fixture
def catalog(db):
    call_command("sync_templates", verbosity=0)


@pytest.fixture
def owner_template(owner):
    return template_create(owner=owner, document=HELM_TEMPLATE)


@pytest.fixture
def other_browser(other_user) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def csrf_browser(owner) -> Client:
    """A logged-in browser that, like a real one, must send the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


@pytest.fixture
def sandbox(owner, kube_standin):
    return cluster_create(owner=owner, name="sandbox", kubeconfig=kube_standin.kubeconfig(), is_sandbox=True)


def htmx(**extra) -> dict:
    return {"HTTP_HX_REQUEST": "true", **extra}
