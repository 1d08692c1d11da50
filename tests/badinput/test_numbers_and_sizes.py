"""Integers Python will not convert (over 4,300 digits) and bodies over MAX_REQUEST_BYTES: 422 / 413, never a 500."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from clusterjobs.models import Cluster
from tests.dbstate import rows
from usecases.models import UseCaseTemplate

pytestmark = pytest.mark.django_db

HUGE = "9" * 4301
TEMPLATE_YAML = f"""name: huge
display_name: Huge
components:
  - name: cache
    type: helm
    chart:
      ref: charts/valkey
      values:
        port: {HUGE}
"""
# Hex has no conversion limit, so this one parses; written out as decimal it would need 4,817 digits.
TEMPLATE_HEX = TEMPLATE_YAML.replace(HUGE, "0x" + "f" * 4000)
# YAML 1.1 base 60 multiplies parts that are each short.
TEMPLATE_BASE60 = TEMPLATE_YAML.replace(HUGE, "1" + ":59" * 2500)


def test_it_refuses_a_yaml_integer_over_4300_digits_with_where_it_is(owner_api):
    response = owner_api.post("/api/templates", TEMPLATE_YAML, content_type="application/yaml")

    assert response.status_code == 422, response.content[:300]
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert "longer than 4300 digits" in error["msg"], error
    assert "line 9" in error["msg"], error
    assert not UseCaseTemplate.objects.exists()


@pytest.mark.parametrize("body", [TEMPLATE_HEX, TEMPLATE_BASE60], ids=["hex", "base60"])
def test_it_refuses_huge_integers_that_parse_but_cannot_be_written(owner_api, body):
    response = owner_api.post("/api/templates", body, content_type="application/yaml")

    assert response.status_code == 422, response.content[:300]
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "components", 0, "chart", "values", "port"]
    assert "longer than 4300 digits" in error["msg"]
    assert not UseCaseTemplate.objects.exists()


def test_it_refuses_a_json_integer_over_4300_digits(owner_api):
    body = '{"name": "huge", "display_name": "Huge", "n": ' + HUGE + "}"
    response = owner_api.post("/api/templates", body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert not UseCaseTemplate.objects.exists()


def test_it_lists_a_huge_integer_as_a_validation_problem(owner_api):
    response = owner_api.post("/api/templates/validate", TEMPLATE_YAML, content_type="application/yaml")

    assert response.status_code == 200, response.content[:300]
    assert response.json()["valid"] is False
    assert "longer than 4300 digits" in response.json()["errors"][0]["msg"]
    assert not UseCaseTemplate.objects.exists()  # validating saves nothing


def test_it_shows_a_huge_integer_as_a_preview_error(owner_browser):
    post = {
        "name": "web-agent",
        "display_name": "Web agent",
        "component_keys": ["k1"],
        "c-k1-name": "agent",
        "c-k1-type": "helm",
        "c-k1-chart_ref": "charts/agent-runtime",
        "c-k1-values": f"port: {HUGE}\n",
        "key": "k1",
    }
    before = rows()
    response = owner_browser.post("/editor/preview", post, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "longer than 4300 digits" in response.content.decode()
    assert rows() == before  # a preview saves nothing


def test_it_refuses_a_kubeconfig_with_a_huge_integer(cluster_adder, owner_api):
    kubeconfig = f"apiVersion: v1\nclusters: []\ncontexts: []\nusers: []\nport: {HUGE}\n"
    response = owner_api.post("/api/clusters", {"name": "c", "kubeconfig": kubeconfig}, content_type="application/json")
    assert response.status_code == 422, response.content[:300]
    assert not Cluster.objects.exists()


THREE_MB = 3 * 1024 * 1024


def test_it_answers_413_with_json_for_an_oversized_api_body(owner_api):
    body = json.dumps({"name": "big", "description": "x" * THREE_MB})
    response = owner_api.post("/api/templates", body, content_type="application/json")

    assert response.status_code == 413, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in response.json()["detail"][0]["msg"]
    assert not UseCaseTemplate.objects.exists()


def test_it_answers_413_for_an_oversized_yaml_body(owner_api):
    body = "name: big\ndescription: " + "y" * THREE_MB
    response = owner_api.post("/api/templates", body, content_type="application/yaml")
    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert not UseCaseTemplate.objects.exists()


@pytest.mark.parametrize("path", ["/editor/preview", "/accounts/login/"])
def test_it_answers_413_with_a_plain_page_for_an_oversized_form(owner_browser, path):
    before = rows()
    response = owner_browser.post(path, {"document": "x" * THREE_MB})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"larger than" in response.content
    assert rows() == before
