"""Wording and details: cluster-internal endpoints, humanised parameter labels, times with their zone."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from usecases.models import UseCaseDeployment
from usecases.sse_render import render_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(owner, catalog, sandbox):
    from usecases.services.deployments import deployment_create

    return deployment_create(owner=owner, name="rag", template="valkey-cache", cluster_id=sandbox.pk)


def state_html(deployment, endpoint_url: str) -> str:
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="running")
    deployment.components.update(status="running", endpoint_url=endpoint_url)
    deployment.refresh_from_db()
    return render_state(deployment)


def test_it_shows_a_cluster_internal_endpoint_as_copyable_text_with_a_port_forward(deployment):
    html = state_html(deployment, "http://valkey.uc-1a2b3c4d.svc.cluster.local:6379")
    assert 'href="http://valkey.uc-1a2b3c4d' not in html
    assert '<code class="endpoint">http://valkey.uc-1a2b3c4d.svc.cluster.local:6379</code>' in html
    assert 'data-copy="http://valkey.uc-1a2b3c4d.svc.cluster.local:6379"' in html
    assert "<code>kubectl port-forward -n uc-1a2b3c4d svc/valkey 6379:6379</code>" in html
    assert "then open http://127.0.0.1:6379" in html


def test_it_forwards_a_privileged_port_to_an_unprivileged_local_one(deployment):
    html = state_html(deployment, "http://web.uc-1a2b3c4d.svc.cluster.local")
    assert "kubectl port-forward -n uc-1a2b3c4d svc/web 8080:80" in html


def test_it_links_a_public_endpoint_but_never_a_script_url(deployment):
    html = state_html(deployment, "https://rag.example.com/")
    assert '<a href="https://rag.example.com/" rel="noopener noreferrer" class="endpoint">' in html
    html = state_html(deployment, "javascript:alert(1)")
    assert 'href="javascript' not in html
    assert "port-forward" not in html


def test_it_offers_no_command_for_a_name_kubectl_would_not_take(deployment):
    html = state_html(deployment, "http://a;rm -rf ~.uc-1.svc.cluster.local:80")
    assert "port-forward" not in html
    assert "href=" not in html.split("step-detail", 1)[1].split("</li>", 1)[0]


def test_it_humanises_parameter_labels_and_keeps_their_description(owner_browser, owner, catalog, sandbox):
    from usecases.services.templates import template_create

    template_create(
        owner=owner,
        document={
            "name": "chunky",
            "display_name": "Chunky",
            "components": [
                {"name": "cache", "type": "helm", "chart": {"ref": "charts/valkey", "values": {"port": 6379}}}
            ],
            "parameters": {
                "chunk_size": {"type": "integer", "default": 512, "description": "Tokens per chunk."},
                "replicaCount": {"type": "integer", "default": 1, "display_name": "Replicas (pods)"},
            },
        },
    )
    wizard = owner_browser.get(reverse("usecases:deployment-create") + "?template=chunky").content.decode()
    assert '">Chunk size\n' in wizard
    assert '<span class="hint">Tokens per chunk.' in wizard
    assert '">Replicas (pods)\n' in wizard  # a display name is kept as the author wrote it
    detail = owner_browser.get(reverse("usecases:template-detail", args=["chunky"])).content.decode()
    assert 'Chunk size <code class="meta">chunk_size</code>' in detail


def test_it_puts_the_absolute_time_with_its_zone_on_relative_times(owner_browser, deployment, settings):
    settings.TIME_ZONE = "Europe/Paris"
    html = owner_browser.get(reverse("usecases:deployment-list")).content.decode()
    assert f'<time datetime="{deployment.created_at.isoformat()}" title="' in html
    assert "CET" in html or "CEST" in html  # the zone is named, in the portal's TIME_ZONE
    rendered = Template("{% load ui %}{{ when|absolute_time }}|{{ nothing|reltime }}").render(
        Context({"when": deployment.created_at, "nothing": None})
    )
    assert rendered.endswith("|")
    assert rendered.split(" ")[-1].startswith(("CET", "CEST"))
