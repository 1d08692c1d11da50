import json
from typing import Any

import pytest
import yaml

from usecases.models import UseCaseTemplate
from tests.dbstate import stored
from tests.usecases.templates.conftest import make_system_template, make_template

pytestmark = pytest.mark.django_db


def post(client, url: str, body: Any, content_type: str = "application/json"):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type)


def put(client, url: str, body: Any):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def test_it_creates_a_private_custom_template_owned_by_the_caller(owner_api, owner, doc) -> None:
    response = post(owner_api, "/api/templates", doc)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["waves"] == [["vector_db", "llm"], ["agent_runtime"]]
    assert body["deployment_order"] == [["vector_db", "llm"], "agent_runtime"]
    assert body["source"] == "custom" and body["visibility"] == "private" and body["owner"] == "owner"
    template = UseCaseTemplate.objects.get(name="my-agent")
    assert template.owner == owner and template.components[2]["chart"]["ref"] == "charts/mychart"


def test_it_accepts_yaml_bodies_and_the_visibility_key(owner_api, doc) -> None:
    text = yaml.safe_dump({**doc, "visibility": "public"})
    response = post(owner_api, "/api/templates", text, content_type="application/yaml")
    assert response.status_code == 201, response.content
    assert UseCaseTemplate.objects.get(name="my-agent").visibility == "public"


def test_it_answers_422_with_document_paths_and_saves_nothing(owner_api, doc) -> None:
    doc["components"][2]["chart"]["ref"] = "oci://valid; rm -rf /"
    doc["components"][2]["chart"]["values"]["securityContext"] = {"privileged": True}
    response = post(owner_api, "/api/templates", doc)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert ["components", 2, "chart", "ref"] in [d["loc"] for d in detail]
    assert any("agent_runtime.chart.values.securityContext.privileged" in d["msg"] for d in detail)
    assert not UseCaseTemplate.objects.exists()


def test_it_answers_422_for_malformed_bodies(owner_api) -> None:
    response = post(owner_api, "/api/templates", "{not json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    response = post(owner_api, "/api/templates", "a: [", content_type="application/yaml")
    assert response.status_code == 422 and "invalid YAML" in response.json()["detail"][0]["msg"]
    response = post(owner_api, "/api/templates", {"name": "x", "display_name": "X", "components": []})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["components"]
    assert not UseCaseTemplate.objects.exists()


def test_it_refuses_a_bad_visibility_and_the_reserved_prefix(owner_api, doc) -> None:
    assert post(owner_api, "/api/templates", {**doc, "visibility": "everyone"}).status_code == 422
    response = post(owner_api, "/api/templates", {**doc, "name": "system-agent"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["name"]
    assert not UseCaseTemplate.objects.exists()


def test_it_answers_409_only_for_a_name_the_caller_already_uses(owner_api, owner, doc) -> None:
    make_template(owner, "my-agent")
    response = post(owner_api, "/api/templates", doc)
    assert response.status_code == 409 and "you already have" in response.json()["detail"]
    assert UseCaseTemplate.objects.filter(name="my-agent").count() == 1


def test_it_validates_without_saving(owner_api, doc) -> None:
    response = post(owner_api, "/api/templates/validate", doc)
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": [], "waves": [["vector_db", "llm"], ["agent_runtime"]]}
    doc["deployment_order"] = [["vector_db", "llm", "agent_runtime"]]
    body = post(owner_api, "/api/templates/validate", doc).json()
    assert body["valid"] is False and len(body["errors"]) == 2
    assert body["errors"][0]["loc"][:4] == ["components", 2, "chart", "values"]
    assert post(owner_api, "/api/templates/validate", "][", content_type="application/yaml").json()["valid"] is False
    assert not UseCaseTemplate.objects.exists()


def test_it_lists_system_public_and_own_templates_only(owner_api, owner, other_user) -> None:
    make_system_template("sys-template")
    make_template(owner, "mine")
    make_template(other_user, "theirs-public", visibility="public")
    make_template(other_user, "theirs-private")
    names = [t["name"] for t in owner_api.get("/api/templates?page_size=100").json()["items"]]
    assert names == ["mine", "sys-template", "theirs-public"]


def test_it_shows_staff_every_template(staff_api, other_user) -> None:
    make_template(other_user, "theirs-private")
    assert [t["name"] for t in staff_api.get("/api/templates").json()["items"]] == ["theirs-private"]
    assert staff_api.get("/api/templates/theirs-private").status_code == 200


def test_it_filters_by_category_tag_source_and_search(owner_api, owner) -> None:
    make_system_template("sys-template")
    make_template(owner, "chat", category="chatbot", tags=["chat"], description="Talks to people")
    make_template(owner, "agent", tags=["agent"])

    def names(query: str) -> list[str]:
        return [t["name"] for t in owner_api.get(f"/api/templates?{query}").json()["items"]]

    assert names("category=chatbot") == ["chat"]
    assert names("tag=agent") == ["agent", "sys-template"]
    assert names("source=system") == ["sys-template"]
    assert names("source=custom&tag=chat") == ["chat"]
    assert names("q=talks") == ["chat"]


def test_it_hides_someone_elses_private_template(owner_api, other_user) -> None:
    make_template(other_user, "theirs")
    assert owner_api.get("/api/templates/theirs").status_code == 404
    assert owner_api.get("/api/templates/missing").status_code == 404


def test_it_updates_own_template(owner_api, owner, doc) -> None:
    make_template(owner, "my-agent")
    doc["display_name"] = "Renamed"
    doc["visibility"] = "public"
    response = put(owner_api, "/api/templates/my-agent", doc)
    assert response.status_code == 200, response.content
    template = UseCaseTemplate.objects.get(name="my-agent")
    assert template.display_name == "Renamed" and template.visibility == "public"


def test_it_refuses_renaming_and_invalid_updates(owner_api, owner, doc) -> None:
    before = stored(make_template(owner, "my-agent"))
    assert put(owner_api, "/api/templates/my-agent", {**doc, "name": "other"}).status_code == 422
    doc["components"][2]["chart"]["ref"] = "file:///etc"
    assert put(owner_api, "/api/templates/my-agent", doc).status_code == 422
    assert UseCaseTemplate.objects.get(name="my-agent").components[2]["chart"]["ref"] == "charts/mychart"
    assert stored(UseCaseTemplate.objects.get(name="my-agent")) == before  # not even the version bumped


def test_it_takes_the_name_from_the_path_when_the_body_omits_it(owner_api, owner, doc) -> None:
    make_template(owner, "my-agent")
    del doc["name"]
    doc["version"] = "2.0.0"
    assert put(owner_api, "/api/templates/my-agent", doc).status_code == 200
    assert UseCaseTemplate.objects.get(name="my-agent").version == "2.0.0"


def test_it_answers_404_when_editing_or_deleting_someone_elses_template(owner_api, other_user, doc) -> None:
    theirs = make_template(other_user, "my-agent", visibility="public")
    before = stored(theirs)
    assert owner_api.get("/api/templates/my-agent").status_code == 200
    doc["display_name"] = "Hijacked"
    assert put(owner_api, "/api/templates/my-agent", doc).status_code == 404
    assert owner_api.delete("/api/templates/my-agent").status_code == 404
    assert UseCaseTemplate.objects.get(name="my-agent").display_name == "My Agent"
    assert stored(theirs) == before


def test_it_answers_403_for_system_templates(owner_api, staff_api, doc) -> None:
    before = stored(make_system_template("sys-template"))
    assert put(owner_api, "/api/templates/sys-template", {**doc, "name": "sys-template"}).status_code == 403
    assert owner_api.delete("/api/templates/sys-template").status_code == 403
    assert staff_api.delete("/api/templates/sys-template").status_code == 403
    assert UseCaseTemplate.objects.filter(name="sys-template", display_name="My Agent").exists()
    assert stored(UseCaseTemplate.objects.get(name="sys-template")) == before


def test_it_deletes_own_template_and_staff_may_delete_any_custom_one(owner_api, staff_api, owner) -> None:
    make_template(owner, "one")
    make_template(owner, "two")
    assert owner_api.delete("/api/templates/one").status_code == 204
    assert staff_api.delete("/api/templates/two").status_code == 204
    assert not UseCaseTemplate.objects.exists()


def test_it_requires_authentication(client) -> None:
    assert client.get("/api/templates").status_code == 401


def test_it_documents_the_template_body_in_openapi(owner_browser) -> None:
    schema = owner_browser.get("/api/openapi.json").json()
    body = schema["paths"]["/api/templates"]["post"]["requestBody"]["content"]
    assert "components" in body["application/json"]["schema"]["properties"]
    assert "$defs" not in json.dumps(body)


def test_it_refuses_oversized_bodies_without_a_server_error(owner_api) -> None:
    response = post(owner_api, "/api/templates", "x: " + "y" * (3 * 1024 * 1024), content_type="application/yaml")
    assert response.status_code in (400, 413, 422)
    assert not UseCaseTemplate.objects.exists()
