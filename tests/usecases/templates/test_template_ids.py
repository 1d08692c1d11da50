"""Templates by id, names per owner (own shadows system; others' private names neither clash nor resolve),
PATCH as a validated partial update, and the staff catalog sync endpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dbstate import stored
from tests.usecases.templates.conftest import make_system_template, make_template
from usecases.models import UseCaseTemplate
from usecases.selectors.templates import template_resolve

pytestmark = pytest.mark.django_db


def send(client, method: str, url: str, body: Any):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def test_responses_carry_the_id_and_every_verb_works_by_id(owner_api, owner, doc) -> None:
    created = send(owner_api, "post", "/api/templates", doc).json()
    template = UseCaseTemplate.objects.get(name="my-agent")
    assert created["id"] == template.pk
    assert template.pk in [t["id"] for t in owner_api.get("/api/templates").json()["items"]]
    assert owner_api.get(f"/api/templates/{template.pk}").json()["name"] == "my-agent"
    doc["description"] = "replaced"
    assert send(owner_api, "put", f"/api/templates/{template.pk}", doc).status_code == 200
    response = send(owner_api, "patch", f"/api/templates/{template.pk}", {"display_name": "Patched"})
    assert response.status_code == 200 and response.json()["display_name"] == "Patched"
    template.refresh_from_db()
    # Each change that keeps the version bumps its patch (PUT, then PATCH): deployments know what they run.
    assert (template.description, template.display_name, template.version) == ("replaced", "Patched", "1.0.2")
    assert owner_api.delete(f"/api/templates/{template.pk}").status_code == 204
    assert not UseCaseTemplate.objects.exists()
    assert owner_api.get(f"/api/templates/{template.pk}").status_code == 404


def test_by_id_another_users_private_template_is_a_404_and_public_is_read_only(owner_api, other_user, doc) -> None:
    private = make_template(other_user, "theirs")
    public = make_template(other_user, "shared", visibility="public")
    assert owner_api.get(f"/api/templates/{private.pk}").status_code == 404
    assert owner_api.get(f"/api/templates/{public.pk}").status_code == 200
    before = stored(public)
    for method in ("put", "patch"):
        assert send(owner_api, method, f"/api/templates/{public.pk}", {"display_name": "Hijack"}).status_code == 404
    assert owner_api.delete(f"/api/templates/{public.pk}").status_code == 404
    assert UseCaseTemplate.objects.filter(display_name="Hijack").count() == 0
    assert UseCaseTemplate.objects.count() == 2
    assert stored(public) == before  # not a field changed, not even its version


def test_someone_elses_private_name_is_free_for_me_and_cannot_be_probed(owner_api, owner, other_user, doc) -> None:
    alices = make_template(other_user, "alice-private", description="alice's")
    response = send(owner_api, "post", "/api/templates", {**doc, "name": "alice-private"})
    assert response.status_code == 201, response.content  # was 409 "already exists": a name oracle
    mine = UseCaseTemplate.objects.get(name="alice-private", owner=owner)
    assert response.json()["id"] == mine.pk != alices.pk
    # By name each one sees their own; editing mine leaves alice's alone.
    assert owner_api.get("/api/templates/alice-private").json()["id"] == mine.pk
    assert send(owner_api, "patch", "/api/templates/alice-private", {"description": "bob's"}).status_code == 200
    alices.refresh_from_db()
    assert alices.description == "alice's" and UseCaseTemplate.objects.get(pk=mine.pk).description == "bob's"


def test_my_template_shadows_the_system_one_of_the_same_name(owner_api, owner, other_api, doc) -> None:
    system = make_system_template("shared-name")
    response = send(owner_api, "post", "/api/templates", {**doc, "name": "shared-name", "description": "mine"})
    assert response.status_code == 201
    assert owner_api.get("/api/templates/shared-name").json()["description"] == "mine"
    assert other_api.get("/api/templates/shared-name").json()["id"] == system.pk
    # Deleting mine by name deletes mine, never the system one; then the name means the system one again.
    assert owner_api.delete("/api/templates/shared-name").status_code == 204
    assert UseCaseTemplate.objects.filter(pk=system.pk).exists()
    assert owner_api.get("/api/templates/shared-name").json()["id"] == system.pk


def test_two_public_templates_of_other_users_with_one_name_resolve_only_by_id(owner, other_user, staff) -> None:
    first = make_template(other_user, "popular", visibility="public")
    assert template_resolve(user=owner, name="popular") == first
    second = make_template(staff, "popular", visibility="public")  # a newcomer must not take the name over
    assert template_resolve(user=owner, name="popular") is None
    assert template_resolve(user=other_user, name="popular") == first
    assert template_resolve(user=staff, name="popular") == second


def test_patch_is_validated_like_create(owner_api, owner) -> None:
    template = make_template(owner, "my-agent")
    before = stored(template)
    url = f"/api/templates/{template.pk}"
    bad_ref = [{**template.components[2], "chart": {**template.components[2]["chart"], "ref": "file:///etc"}}]
    response = send(owner_api, "patch", url, {"components": [*template.components[:2], *bad_ref]})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][:3] == ["components", 2, "chart"]
    assert send(owner_api, "patch", url, {"name": "renamed"}).json()["detail"][0]["loc"] == ["name"]
    assert send(owner_api, "patch", url, {"owner": "someone"}).json()["detail"][0]["loc"] == ["owner"]
    assert send(owner_api, "patch", url, ["not", "a", "mapping"]).status_code == 422
    assert send(owner_api, "patch", url, {"visibility": "everyone"}).status_code == 422
    assert stored(template) == before  # five refused PATCHes: not a column changed, not even the version
    response = send(owner_api, "patch", url, {"visibility": "public"})
    assert response.status_code == 200
    template.refresh_from_db()
    assert template.visibility == "public" and template.name == "my-agent"
    assert template.components[2]["chart"]["ref"] == "charts/mychart"


def test_patch_of_a_system_template_is_refused(owner_api, staff_api) -> None:
    system = make_system_template("sys-template")
    before = stored(system)
    assert send(owner_api, "patch", f"/api/templates/{system.pk}", {"description": "x"}).status_code == 403
    assert send(staff_api, "patch", "/api/templates/sys-template", {"description": "x"}).status_code == 403
    system.refresh_from_db()
    assert system.description == "An agent"
    assert stored(system) == before


@pytest.mark.parametrize("name", ["12345", "sync"])
def test_names_that_would_shadow_an_api_path_are_refused(owner_api, doc, name) -> None:
    response = send(owner_api, "post", "/api/templates", {**doc, "name": name})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["name"]
    assert not UseCaseTemplate.objects.exists()


@pytest.fixture
def catalog_dir(tmp_path: Path, settings, charts_dir: Path) -> Path:
    root = tmp_path / "catalog"
    (root / "templates").mkdir(parents=True)
    shutil.copy(Path(settings.BASE_DIR) / "usecases" / "catalog" / "components.yaml", root / "components.yaml")
    settings.USECASE_CATALOG_DIR = root
    return root / "templates"


def _catalog_file(directory: Path, name: str, description: str = "v1") -> None:
    doc = {"name": name, "display_name": name.title(), "description": description, "components": [
        {"name": "llm", "display_name": "LLM", "type": "model", "default_component": "llama-3-8b"}]}  # fmt: skip
    (directory / f"{name}.yaml").write_text(json.dumps(doc))


def test_sync_is_staff_only_and_reports_created_updated_deleted_skipped(
    owner_api, staff_api, owner, catalog_dir: Path
) -> None:
    _catalog_file(catalog_dir, "alpha")
    _catalog_file(catalog_dir, "beta")
    assert owner_api.post("/api/templates/sync").status_code == 403
    assert not UseCaseTemplate.objects.exists()
    body = staff_api.post("/api/templates/sync").json()
    assert body == {"created": ["alpha", "beta"], "updated": [], "deleted": [], "skipped": [], "errors": {}}
    _catalog_file(catalog_dir, "alpha", description="v2")
    (catalog_dir / "beta.yaml").unlink()
    (catalog_dir / "broken.yaml").write_text("name: [")
    mine = make_template(owner, "beta")  # a user's own "beta" is never the catalog's to delete
    body = staff_api.post("/api/templates/sync").json()
    assert (body["created"], body["updated"], body["deleted"], body["skipped"]) == ([], ["alpha"], ["beta"], ["broken"])
    assert list(body["errors"]) == ["broken.yaml"]
    assert UseCaseTemplate.objects.get(name="alpha").description == "v2"
    assert list(UseCaseTemplate.objects.filter(name="beta")) == [mine]
    body = staff_api.post("/api/templates/sync").json()
    assert body["skipped"] == ["alpha", "broken"] and body["created"] == body["deleted"] == []
