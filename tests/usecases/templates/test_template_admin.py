import pytest
import yaml
from django.urls import reverse

from usecases.models import UseCaseTemplate
from tests.dbstate import everything
from tests.usecases.templates.conftest import make_system_template, make_template

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:usecases_usecasetemplate_add")
LIST_URL = reverse("admin:usecases_usecasetemplate_changelist")


def change_url(template: UseCaseTemplate) -> str:
    return reverse("admin:usecases_usecasetemplate_change", args=[template.pk])


def test_it_creates_a_template_from_yaml(admin_client, admin_user, doc) -> None:
    response = admin_client.post(ADD_URL, {"document": yaml.safe_dump(doc), "visibility": "public"})
    assert response.status_code == 302, response.content.decode()[:2000]
    template = UseCaseTemplate.objects.get(name="my-agent")
    assert (template.owner, template.source, template.visibility) == (admin_user, "custom", "public")
    assert template.waves == [["vector_db", "llm"], ["agent_runtime"]]


def test_it_shows_validation_errors_inline_with_their_path(admin_client, doc) -> None:
    doc["components"][2]["chart"]["ref"] = "$(whoami)"
    doc["components"][2]["chart"]["values"]["sidecars"] = [{"securityContext": {"privileged": True}}]
    response = admin_client.post(ADD_URL, {"document": yaml.safe_dump(doc), "visibility": "private"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "errorlist" in html
    assert "components[2].chart.ref: chart ref contains characters that are not allowed" in html
    assert "agent_runtime.chart.values.sidecars[0].securityContext.privileged" in html
    assert not UseCaseTemplate.objects.exists()


def test_it_shows_yaml_syntax_errors_and_taken_names(admin_client, owner, doc) -> None:
    response = admin_client.post(ADD_URL, {"document": "name: [", "visibility": "private"})
    assert "invalid YAML" in response.content.decode()
    make_template(owner, "my-agent")  # another owner's: names are per owner, so the admin may use it too
    response = admin_client.post(ADD_URL, {"document": yaml.safe_dump(doc), "visibility": "private"})
    assert response.status_code == 302 and UseCaseTemplate.objects.count() == 2
    response = admin_client.post(ADD_URL, {"document": yaml.safe_dump(doc), "visibility": "private"})
    assert "name: a template named &#x27;my-agent&#x27; already exists" in response.content.decode()
    assert UseCaseTemplate.objects.count() == 2


def test_it_edits_a_custom_template(admin_client, owner, doc) -> None:
    template = make_template(owner, "my-agent")
    page = admin_client.get(change_url(template)).content.decode()
    assert "<textarea" in page and "agent_runtime" in page
    doc["display_name"] = "Edited"
    response = admin_client.post(change_url(template), {"document": yaml.safe_dump(doc), "visibility": "private"})
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.display_name == "Edited" and template.owner == owner


def test_it_shows_system_templates_read_only(admin_client, doc) -> None:
    template = make_system_template("sys-template")
    page = admin_client.get(change_url(template)).content.decode()
    assert "<textarea" not in page and "<pre" in page and "sys-template" in page
    doc["name"], doc["display_name"] = "sys-template", "Changed"
    response = admin_client.post(change_url(template), {"document": yaml.safe_dump(doc), "visibility": "private"})
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.display_name == "My Agent"
    delete_url = reverse("admin:usecases_usecasetemplate_delete", args=[template.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert UseCaseTemplate.objects.filter(pk=template.pk).exists()


def test_it_lists_searches_and_filters_by_component_type(admin_client, owner) -> None:
    make_system_template("sys-template")
    make_template(
        owner,
        "models-only",
        category="chatbot",
        components=[{"name": "llm", "type": "model", "default_component": "mistral-7b"}],
        deployment_order=None,
        parameters={},
    )
    page = admin_client.get(LIST_URL).content.decode()
    assert "models-only" in page and "sys-template" in page and "component type" in page
    page = admin_client.get(LIST_URL, {"component_type": "helm"}).content.decode()
    assert "sys-template" in page and "models-only" not in page
    page = admin_client.get(LIST_URL, {"q": "models"}).content.decode()
    assert "models-only" in page and "sys-template" not in page
    page = admin_client.get(LIST_URL, {"category__exact": "chatbot"}).content.decode()
    assert "models-only" in page and "sys-template" not in page


def test_it_exports_selected_templates_as_yaml(admin_client, owner) -> None:
    one = make_template(owner, "one")
    two = make_system_template("two")
    before = everything()
    response = admin_client.post(LIST_URL, {"action": "export_yaml", "_selected_action": [one.pk]})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="one.yaml"'
    assert yaml.safe_load(response.content) == one.to_document()
    response = admin_client.post(LIST_URL, {"action": "export_yaml", "_selected_action": [one.pk, two.pk]})
    documents = list(yaml.safe_load_all(response.content))
    assert [d["name"] for d in documents] == ["one", "two"]
    assert documents[0]["deployment_order"] == [["vector_db", "llm"], "agent_runtime"]
    assert everything() == before  # exporting changes no template


def test_it_refuses_bulk_deletes_that_include_system_templates(admin_client, owner) -> None:
    custom = make_template(owner, "custom-one")
    system = make_system_template("sys-template")
    data = {"action": "delete_selected", "_selected_action": [custom.pk, system.pk], "post": "yes"}
    assert admin_client.post(LIST_URL, data).status_code == 403
    assert UseCaseTemplate.objects.count() == 2
    data["_selected_action"] = [custom.pk]
    assert admin_client.post(LIST_URL, data).status_code == 302
    assert list(UseCaseTemplate.objects.values_list("name", flat=True)) == ["sys-template"]


def test_it_refuses_the_admin_to_non_staff(owner_browser) -> None:
    assert owner_browser.get(LIST_URL).status_code == 302
