"""Hostile input through the real endpoints: oversized bodies, YAML bombs, Jinja sandbox escapes and resource
bombs, chart refs built to inject into ``helm``. Each case and its outcome is listed in ``tests/BAD_INPUT.md``."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from budportal.api import api
from clusterjobs.models import Job
from pipelines.models import PipelineExecution, StepExecution
from tests.dbstate import rows
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment

pytestmark = pytest.mark.django_db

# Well under 1 s each on an idle 2-core machine (tests/bench/bench_badinput.py prints the times). A bomb that
# expands takes minutes or exhausts memory: the per-test timeout below catches it without a wall-clock assert
# that a loaded machine could break.
BOMB_TIMEOUT_SECONDS = 60
quick = pytest.mark.timeout(BOMB_TIMEOUT_SECONDS)


def _template(ref: str = "charts/valkey", values: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": "hostile",
        "display_name": "Hostile",
        "version": "1.0.0",
        "description": "x",
        **extra,
        "components": [{"name": "cache", "type": "helm", "chart": {"ref": ref, "values": values or {"port": 6379}}}],
    }


def _locs(response) -> list[list]:
    return [d["loc"] for d in response.json()["detail"]]


# --- oversized bodies ------------------------------------------------------------------------------------
def test_it_refuses_oversized_bodies_on_every_api_write_that_reads_one(owner_api):
    too_big = b'{"name": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'
    tried = []
    before = rows()
    for path, operations in api.get_openapi_schema()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation and "{" not in path:
                response = getattr(owner_api, method)(path, too_big, content_type="application/json")
                assert response.status_code == 413, (method, path, response.status_code)
                tried.append(path)
    assert len(tried) >= 5, tried
    assert not UseCaseTemplate.objects.exists()
    assert rows() == before  # no cluster, job, execution or pipeline either


@quick
def test_it_refuses_an_oversized_yaml_template_quickly(owner_api):
    body = "name: big\ndescription: " + "y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = owner_api.post("/api/templates", body, content_type="application/yaml")
    assert response.status_code in (400, 413, 422)
    assert not UseCaseTemplate.objects.exists()


def test_it_refuses_an_oversized_page_post(owner_browser):
    before = rows()
    response = owner_browser.post("/editor/preview", {"document": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert response.status_code == 413
    assert rows() == before


# --- YAML bombs -------------------------------------------------------------------------------------------
BILLION_LAUGHS = "\n".join(
    ["name: laughs", 'version: "1.0.0"', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]" for p, c in zip("abcdefgh", "bcdefghi")]
)
DEEP_FLOW = "name: deep\nvalues: " + "[" * 2000 + "]" * 2000  # past PyYAML's recursion limit
DEEP_BLOCK = "name: deep\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
DEEP_JSON = '{"name": "deep", "v": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.mark.parametrize("path", ["/api/templates/validate", "/api/templates"])
@pytest.mark.parametrize(
    "body, content_type",
    [
        (BILLION_LAUGHS, "application/yaml"),
        (DEEP_FLOW, "application/yaml"),
        (DEEP_BLOCK, "application/yaml"),
        (DEEP_JSON, "application/json"),
        ("a: !!python/object/apply:os.system ['id']", "application/yaml"),
        ("a: &x [*x]", "application/yaml"),
    ],
    ids=["billion-laughs", "deep-flow", "deep-block", "deep-json", "python-tag", "self-alias"],
)
@quick
def test_it_refuses_yaml_bombs_quickly(owner_api, path, body, content_type):
    response = owner_api.post(path, body, content_type=content_type)

    if response.status_code == 200:  # /validate answers 200 with the problems listed
        assert response.json()["valid"] is False, response.json()
    else:
        assert response.status_code == 422, response.content[:300]
    assert not UseCaseTemplate.objects.exists()


# --- Jinja: sandbox escapes and resource bombs -----------------------------------------------------------
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ steps.__class__.__init__.__globals__ }}",
    "{{ parameters.__class__.__base__.__subclasses__() }}",
    "{{ params['__class__'] }}",
    "{{ (parameters|attr('__class__')).__mro__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ request.application.__globals__ }}",
    "{{ config.items() }}",
    "{% set x = parameters.update({'a': 1}) %}{{ x }}",
    "{{ parameters.pop('a', 1) }}",
    "{% import 'os' as os %}{{ os }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
]


def _submit(client: Client, message: str, call) -> Any:
    dag = {
        "name": "escape",
        "parameters": {"a": "b"},
        "steps": [{"id": "s", "action": "log", "params": {"message": message}}],
    }
    return call(client.post, "/api/executions", dag)


@quick
@pytest.mark.parametrize("source", ESCAPES)
def test_it_refuses_jinja_sandbox_escapes_in_executions(owner_api, call, source):
    response = _submit(owner_api, source, call)

    if response.status_code == 422:
        assert _locs(response) == [["steps", 0, "params", "message"]]
        assert not PipelineExecution.objects.exists()
        return
    assert response.status_code == 201, response.content
    step = StepExecution.objects.get(execution_id=response.json()["execution_id"])
    assert step.status == "FAILED", (step.status, step.error, step.outputs)
    assert "could not render" in step.error, (step.status, step.error, step.outputs)
    assert "root:" not in str(step.outputs)
    assert "uid=" not in str(step.outputs)


@pytest.mark.parametrize("source", ESCAPES[:9])
def test_it_never_renders_jinja_sandbox_escapes_in_template_values(owner_api, sandbox, call, source):
    saved = owner_api.post(
        "/api/templates", _template(values={"port": 6379, "evil": source}), content_type="application/json"
    )
    if saved.status_code == 422:  # refused when saved
        assert any("evil" in str(loc) for loc in _locs(saved)), saved.json()
        assert not UseCaseTemplate.objects.filter(name="hostile").exists()
        return
    assert saved.status_code == 201, saved.content
    created = owner_api.post(
        "/api/deployments",
        {"name": "esc", "template": "hostile", "cluster_id": str(sandbox.pk)},
        content_type="application/json",
    )
    if created.status_code == 422:  # refused when the deployment is created
        assert not UseCaseDeployment.objects.exists()
        return
    deployment_id = created.json()["id"]
    started = call(owner_api.post, f"/api/deployments/{deployment_id}/start")
    if started.status_code == 422:  # refused when the DAG is built and validated
        assert "undefined name" in started.content.decode(), started.content
        assert UseCaseDeployment.objects.get(pk=deployment_id).status == "pending"
        assert not PipelineExecution.objects.exists()
        return

    deployment = owner_api.get(f"/api/deployments/{deployment_id}").json()
    assert deployment["status"] == "failed", deployment
    (component,) = deployment["components"]
    assert "could not render" in component["error"], component["error"]
    assert "Error" in component["error"], component["error"]
    assert sandbox.standin.objects("Deployment", deployment["namespace"]) == []


RESOURCE_BOMBS = [
    pytest.param("{{ range(10**9)|list|length }}", id="range"),
    # 10**8 iterations (~4 s here); 10**5 x 10**5 would hold a worker for hours.
    pytest.param("{% for i in range(10**4) %}{% for j in range(10**4) %}{% endfor %}{% endfor %}", id="nested-loops"),
    pytest.param("{{ 'x' * 10**7 }}", id="str-mul"),
    pytest.param("{{ [0] * 10**6 }}", id="list-mul"),
    pytest.param("{{ 'x'|center(10**7)|length }}", id="center"),
]


@quick
@pytest.mark.parametrize("source", RESOURCE_BOMBS)
def test_it_refuses_jinja_resource_bombs_in_executions(owner_api, call, source):
    response = _submit(owner_api, source, call)

    assert response.status_code in (201, 422), response.content[:300]
    if response.status_code == 422:
        assert not PipelineExecution.objects.exists()
    else:
        execution = PipelineExecution.objects.get(pk=response.json()["execution_id"])
        assert execution.status == "FAILED", "rendered a huge value instead of refusing it"


# --- chart refs built to inject ----------------------------------------------------------------------------
INJECTED_REFS = [
    "charts/valkey; rm -rf /",
    "charts/valkey && id",
    "charts/valkey | sh",
    "charts/$(id)",
    "charts/`id`",
    "charts/valkey\n--post-renderer=/bin/sh",
    "charts/valkey --post-renderer /bin/sh",
    "--kubeconfig=/etc/passwd",
    "-h",
    "charts/../../../etc",
    "../charts/valkey",
    "/etc/passwd",
    "file:///etc/passwd",
    "http://evil.example/x",
    "ftp://evil.example/x",
    "git://evil.example/x.git",
    "oci://",
    "https://",
    "oci://host/path;id",
    "https://host/chart$(id)",
    "oci://host/path with space",
    "charts/valkey\x00",
    "charts/Valkey%2e%2e",
    "charts/" + "a" * 600,
    "oci://user:pass@host/path?x=1#frag",
    "charts/valkey/../valkey",
]


@pytest.mark.parametrize("ref", INJECTED_REFS)
def test_it_refuses_injected_chart_refs_in_templates(owner_api, ref):
    response = owner_api.post("/api/templates", _template(ref=ref), content_type="application/json")
    assert response.status_code == 422, (ref, response.content)
    assert ["components", 0, "chart", "ref"] in _locs(response), response.json()
    assert not UseCaseTemplate.objects.exists()


@pytest.mark.parametrize("ref", INJECTED_REFS)
def test_it_refuses_injected_chart_refs_in_helm_steps(owner_api, ref, owned):
    dag = {
        "name": "inject",
        "steps": [
            {
                "id": "h",
                "action": "helm_deploy",
                "params": {
                    "cluster_id": owned["cluster_id"],
                    "chart_ref": ref,
                    "release_name": "r",
                    "namespace": "uc-0123abcd",
                },
            }
        ],
    }
    before = rows(PipelineExecution, StepExecution, Job)
    response = owner_api.post("/api/executions", dag, content_type="application/json")
    assert response.status_code == 422, (ref, response.content)
    assert rows(PipelineExecution, StepExecution, Job) == before
    assert ["steps", 0, "params", "chart_ref"] in _locs(response) or any(
        "chart_ref" in d["msg"] for d in response.json()["detail"]
    ), response.json()


@pytest.mark.parametrize("ref", INJECTED_REFS[:8])
def test_it_refuses_injected_chart_refs_in_jobs(owner_api, ref, owned):
    before = rows(Job)
    response = owner_api.post(
        "/api/jobs",
        {
            "job_type": "helm_deploy",
            "cluster_id": owned["cluster_id"],
            "config": {"chart_ref": ref, "release_name": "r", "namespace": "uc-0123abcd"},
        },
        content_type="application/json",
    )
    assert response.status_code == 422, (ref, response.content)
    assert rows(Job) == before
