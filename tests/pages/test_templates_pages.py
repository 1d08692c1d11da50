import pytest
from django.urls import reverse

from tests.dbstate import stored
from tests.pages.conftest import htmx
from usecases.models import UseCaseTemplate

pytestmark = pytest.mark.django_db


def test_it_requires_login_for_the_catalog(client):
    response = client.get(reverse("usecases:template-list"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_lists_catalog_templates_as_a_grid_with_filters(owner_browser, catalog):
    response = owner_browser.get(reverse("usecases:template-list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Agent RAG" in html
    assert 'id="template-grid"' in html
    assert '<option value="agent"' in html  # the category filter offers the catalog's categories


def test_it_answers_an_htmx_search_with_only_the_grid(owner_browser, catalog):
    response = owner_browser.get(reverse("usecases:template-list"), {"q": "rag"}, **htmx())
    html = response.content.decode()
    # The grid and its pager, swapped together.
    assert html.lstrip().startswith('<div id="template-results">')
    assert '<section id="template-grid"' in html
    assert "<html" not in html
    assert "Agent RAG" in html
    assert "Valkey" not in html


def test_it_filters_by_tag_and_category(owner_browser, catalog, owner_template):
    html = owner_browser.get(reverse("usecases:template-list"), {"tag": "mine"}, **htmx()).content.decode()
    assert "My agent" in html
    assert "Agent RAG" not in html
    html = owner_browser.get(reverse("usecases:template-list"), {"category": "nope"}, **htmx()).content.decode()
    assert "No template matches" in html


def test_it_hides_another_users_private_template_everywhere(other_browser, owner_template):
    before = stored(owner_template)
    assert "My agent" not in other_browser.get(reverse("usecases:template-list")).content.decode()
    assert other_browser.get(reverse("usecases:template-detail", args=["my-agent"])).status_code == 404
    assert other_browser.get(reverse("usecases:template-edit", args=["my-agent"])).status_code == 404
    assert other_browser.post(reverse("usecases:template-delete", args=["my-agent"])).status_code == 404
    assert stored(owner_template) == before


def test_it_shows_components_values_and_the_dependency_graph(owner_browser, catalog):
    html = owner_browser.get(reverse("usecases:template-detail", args=["agent-rag"])).content.decode()
    assert "<svg" in html
    assert "Wave 1" in html
    assert "Wave 2" in html
    # Reference edges: the agent uses the outputs of both wave-1 components.
    assert 'class="edge reference"' in html
    assert 'data-source="llm" data-target="agent_runtime"' in html
    assert 'data-source="vector_db" data-target="agent_runtime"' in html
    assert "charts/agent-runtime" in html
    assert "charts/qdrant" in html
    assert '<mark class="jinja">{{ steps.llm.outputs.endpoint_url }}</mark>' in html
    assert "<details>" in html
    assert "chunk_size" in html
    assert "2048" in html


def test_it_refuses_to_edit_a_system_template(owner_browser, catalog):
    assert owner_browser.get(reverse("usecases:template-edit", args=["agent-rag"])).status_code == 403


def _editor_post(**overrides) -> dict:
    data = {
        "name": "web-agent",
        "display_name": "Web agent",
        "version": "1.0.0",
        "visibility": "private",
        "component_keys": ["k1"],
        "c-k1-name": "agent",
        "c-k1-type": "helm",
        "c-k1-required": "on",
        "c-k1-chart_ref": "charts/agent-runtime",
        "c-k1-values": "replicaCount: 2\nport: 8080\n",
        "parameters": "",
        "resources": "",
        "deployment_order": "",
        "tags": "web, demo",
    }
    data.update(overrides)
    return data


def test_it_creates_a_template_through_the_editor(owner_browser, owner):
    response = owner_browser.post(reverse("usecases:template-create"), _editor_post())
    assert response.status_code == 302
    template = UseCaseTemplate.objects.get(name="web-agent")
    assert template.owner == owner
    assert template.tags == ["web", "demo"]
    assert template.components[0]["chart"] == {
        "ref": "charts/agent-runtime",
        "values": {"replicaCount": 2, "port": 8080},
    }


def test_it_shows_a_bad_chart_ref_and_blocked_values_at_their_fields(owner_browser):
    post = _editor_post(
        **{"c-k1-chart_ref": "http://evil/chart", "c-k1-values": "securityContext:\n  privileged: true\n"}
    )
    response = owner_browser.post(reverse("usecases:template-create"), post)
    html = response.content.decode()
    assert response.status_code == 422
    assert "plain http:// chart refs are refused" in html
    assert "securityContext.privileged" in html
    assert not UseCaseTemplate.objects.filter(name="web-agent").exists()


def test_it_reports_invalid_yaml_values_with_the_line(owner_browser):
    response = owner_browser.post(reverse("usecases:template-create"), _editor_post(**{"c-k1-values": "a: [1,\n"}))
    html = response.content.decode()
    assert response.status_code == 422
    assert "invalid YAML" in html
    assert "line" in html
    assert not UseCaseTemplate.objects.filter(name="web-agent").exists()


def test_it_edits_an_owned_template_and_keeps_its_name(owner_browser, owner_template):
    page = owner_browser.get(reverse("usecases:template-edit", args=["my-agent"]))
    assert page.status_code == 200
    assert "charts/agent-runtime" in page.content.decode()
    post = _editor_post(name="my-agent", display_name="Renamed", **{"component_keys": ["k1"], "c-k1-name": "agent"})
    response = owner_browser.post(reverse("usecases:template-edit", args=["my-agent"]), post)
    assert response.status_code == 302
    owner_template.refresh_from_db()
    assert owner_template.display_name == "Renamed"
    assert len(owner_template.components) == 1


def test_it_validates_a_chart_ref_inline(owner_browser):
    url = reverse("usecases:editor-chart-ref")
    bad = owner_browser.post(url, {"key": "k1", "c-k1-chart_ref": "charts/nope"}, **htmx()).content.decode()
    assert 'id="ref-status-k1"' in bad
    assert "no bundled chart" in bad
    good = owner_browser.post(
        url, {"key": "k1", "c-k1-chart_ref": "oci://ghcr.io/org/chart"}, **htmx()
    ).content.decode()
    assert "valid chart ref" in good


def test_it_adds_a_component_row_and_switches_its_type(owner_browser, catalog):
    row = owner_browser.get(reverse("usecases:editor-component"), **htmx()).content.decode()
    assert 'class="component-row"' in row
    assert "chart_ref" in row
    switched = owner_browser.post(
        reverse("usecases:editor-component"), {"key": "k9", "c-k9-name": "db", "c-k9-type": "vector_db"}, **htmx()
    ).content.decode()
    assert 'id="row-k9"' in switched
    assert "chart_ref" not in switched
    assert 'value="qdrant"' in switched


def test_it_previews_resolved_values_with_parameter_defaults(owner_browser):
    post = _editor_post(
        **{
            "parameters": "replicas: {type: integer, default: 3}",
            "c-k1-values": "replicaCount: '{{ parameters.replicas }}'\nurl: '{{ steps.agent.outputs.endpoint_url }}'\n",
            "key": "k1",
        }
    )
    html = owner_browser.post(reverse("usecases:editor-preview"), post, **htmx()).content.decode()
    assert "replicaCount</span>: 3" in html
    assert '<mark class="jinja placeholder">&lt;agent.endpoint_url&gt;</mark>' in html


def test_it_deletes_an_owned_template(owner_browser, owner_template):
    response = owner_browser.post(reverse("usecases:template-delete", args=["my-agent"]))
    assert response.status_code == 302
    assert not UseCaseTemplate.objects.filter(name="my-agent").exists()


def test_it_enforces_csrf_on_editor_posts(csrf_browser):
    response = csrf_browser.post(reverse("usecases:template-create"), _editor_post())
    assert response.status_code == 403
    assert not UseCaseTemplate.objects.filter(name="web-agent").exists()
