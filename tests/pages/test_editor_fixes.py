"""Template editor: blank rows ignored on every save, errors as sentences, the preview's message the same as
Save's, a "saved" confirmation, and the version bumped on every change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.pages.test_templates_pages import _editor_post
from usecases.models import UseCaseTemplate

pytestmark = pytest.mark.django_db

BLANK_ROW = {"component_keys": ["k1", "k2"], "c-k2-type": "helm", "c-k2-required": "on", "c-k2-values": ""}


def test_it_ignores_a_blank_new_row_on_every_save(owner_browser):
    url = reverse("usecases:template-create")
    failed = owner_browser.post(url, _editor_post(name="blank-rows", display_name="", **BLANK_ROW))
    html = failed.content.decode()
    assert failed.status_code == 422
    assert "chart ref is required" not in html
    assert 'id="row-k2"' not in html
    assert not UseCaseTemplate.objects.filter(name="blank-rows").exists()
    saved = owner_browser.post(url, _editor_post(name="blank-rows", **BLANK_ROW))
    assert saved.status_code == 302
    assert [c["name"] for c in UseCaseTemplate.objects.get(name="blank-rows").components] == ["agent"]


def test_it_prints_errors_as_sentences_not_python_lists(owner_browser):
    html = owner_browser.post(
        reverse("usecases:template-create"), _editor_post(name="bad-rows", **{"c-k1-name": "Bad Name"})
    ).content.decode()
    assert "must start with a-z" in html
    assert "[&quot;" not in html
    assert "[&#x27;" not in html
    assert not UseCaseTemplate.objects.filter(name="bad-rows").exists()


def test_it_previews_an_unknown_step_with_the_same_message_as_save(owner_browser):
    values = {"c-k1-values": "x: '{{ steps.nothere.outputs.endpoint_url }}'"}
    preview = owner_browser.post(reverse("usecases:editor-preview"), _editor_post(key="k1", **values)).content.decode()
    assert "no component named &#x27;nothere&#x27;" in preview
    assert "UndefinedError" not in preview
    save = owner_browser.post(reverse("usecases:template-create"), _editor_post(name="refs", **values)).content.decode()
    assert "no component named &#x27;nothere&#x27;" in save
    assert not UseCaseTemplate.objects.filter(name="refs").exists()


def test_it_clears_a_fixed_yaml_error_in_the_live_preview(owner_browser):
    url = reverse("usecases:editor-preview")
    broken = owner_browser.post(url, _editor_post(key="k1", **{"c-k1-values": "a: [1, 2"})).content.decode()
    assert "invalid YAML" in broken
    fixed = owner_browser.post(url, _editor_post(key="k1", **{"c-k1-values": "a: [1, 2]"})).content.decode()
    assert "invalid YAML" not in fixed
    assert "field-error" not in fixed


def test_it_confirms_the_save_and_bumps_the_version_on_every_change(owner_browser, owner):
    create = reverse("usecases:template-create")
    response = owner_browser.post(create, _editor_post(name="bumped"), follow=True)
    assert "Template bumped saved as version 1.0.0." in response.content.decode()
    edit = reverse("usecases:template-edit", args=["bumped"])
    changed = owner_browser.post(edit, _editor_post(name="bumped", **{"c-k1-values": "replicaCount: 3\n"}), follow=True)
    assert "saved as version 1.0.1" in changed.content.decode()
    assert UseCaseTemplate.objects.get(name="bumped").version == "1.0.1"
    again = owner_browser.post(
        edit, _editor_post(name="bumped", version="1.0.1", **{"c-k1-values": "replicaCount: 4\n"})
    )
    assert again.status_code == 302
    assert UseCaseTemplate.objects.get(name="bumped").version == "1.0.2"
    # Saving without a change keeps the version; an explicit new version is kept as given.
    owner_browser.post(edit, _editor_post(name="bumped", version="1.0.2", **{"c-k1-values": "replicaCount: 4\n"}))
    assert UseCaseTemplate.objects.get(name="bumped").version == "1.0.2"
    owner_browser.post(edit, _editor_post(name="bumped", version="2.0.0", **{"c-k1-values": "replicaCount: 5\n"}))
    assert UseCaseTemplate.objects.get(name="bumped").version == "2.0.0"
