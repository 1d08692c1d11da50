from typing import Any

import pytest

from budportal.errors import ServiceValidationError
from usecases.template_schema import load_yaml
from usecases.validation.templates import parameter_value_problem, resolve_parameter_values, validate_template


def errors_of(document: Any, **kwargs: Any) -> list[dict[str, Any]]:
    with pytest.raises(ServiceValidationError) as info:
        validate_template(document, **kwargs)
    return info.value.errors


def locs(document: Any) -> list[list]:
    return [e["loc"] for e in errors_of(document)]


def test_it_accepts_a_valid_template_and_normalises_waves(doc) -> None:
    validated = validate_template(doc)
    assert validated.waves == [["vector_db", "llm"], ["agent_runtime"]]
    fields = validated.model_fields()
    assert fields["deployment_order"] == [["vector_db", "llm"], "agent_runtime"]  # authored form kept
    assert fields["components"][2]["chart"]["ref"] == "charts/mychart"
    assert "chart" not in fields["components"][0]


def test_it_defaults_to_a_strict_chain_in_listed_order(doc) -> None:
    del doc["deployment_order"]
    assert validate_template(doc).waves == [["vector_db"], ["llm"], ["agent_runtime"]]


def test_it_refuses_a_bad_chart_ref_with_its_path(doc) -> None:
    doc["components"][2]["chart"]["ref"] = "oci://valid; rm -rf /"
    errors = errors_of(doc)
    assert errors[0]["loc"] == ["components", 2, "chart", "ref"]


@pytest.mark.parametrize("ref", ["invalid-ref", "ftp://x", "$(whoami)", "http://x/y", "charts/../x", "charts/nope"])
def test_it_refuses_every_unsafe_or_unknown_ref(doc, ref: str) -> None:
    doc["components"][2]["chart"]["ref"] = ref
    assert locs(doc) == [["components", 2, "chart", "ref"]]


@pytest.mark.parametrize(
    "ref", ["oci://registry.example.com/charts/myapp", "https://charts.example.com/x", "charts/agent-runtime"]
)
def test_it_accepts_the_three_kinds_of_ref(doc, ref: str) -> None:
    doc["components"][2]["chart"]["ref"] = ref
    assert validate_template(doc).name == "my-agent"


def test_it_requires_chart_for_helm_and_forbids_it_elsewhere(doc) -> None:
    chart = doc["components"][2].pop("chart")
    doc["components"][0]["chart"] = chart
    errors = errors_of(doc)
    assert {tuple(e["loc"]) for e in errors} == {("components", 0, "chart"), ("components", 2, "chart")}
    assert any("required when type is 'helm'" in e["msg"] for e in errors)


def test_it_refuses_privileged_values_inside_lists_with_the_component_path(doc) -> None:
    doc["components"][2]["chart"]["values"]["sidecars"] = [{"securityContext": {"privileged": True}}]
    doc["components"][2]["chart"]["values"]["hostNetwork"] = "true"
    errors = errors_of(doc)
    by_loc = {tuple(e["loc"]): e["msg"] for e in errors}
    loc = ("components", 2, "chart", "values", "sidecars", 0, "securityContext", "privileged")
    assert "agent_runtime.chart.values.sidecars[0].securityContext.privileged" in by_loc[loc]
    assert "agent_runtime.chart.values.hostNetwork" in by_loc[("components", 2, "chart", "values", "hostNetwork")]


def test_it_refuses_blocked_values_in_catalog_component_overrides(doc) -> None:
    doc["components"][0]["values"] = {"podSecurityContext": {"allowPrivilegeEscalation": 1}}
    assert errors_of(doc)[0]["msg"].startswith("vector_db.values.podSecurityContext.allowPrivilegeEscalation")


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["vector_db", "llm"], "missing from the order: agent_runtime"),
        (["vector_db", "llm", "agent_runtime", "llm"], "more than once"),
        ([["vector_db", "nope"], "llm", "agent_runtime"], "unknown component 'nope'"),
        ([[], "vector_db", "llm", "agent_runtime"], "non-empty list"),
    ],
)
def test_it_refuses_bad_deployment_orders(doc, order, expected: str) -> None:
    doc["deployment_order"] = order
    assert any(expected in e["msg"] for e in errors_of(doc))


def test_it_points_at_the_unknown_name_inside_a_wave(doc) -> None:
    doc["deployment_order"] = [["vector_db", "nope"], "llm", "agent_runtime"]
    assert locs(doc) == [["deployment_order", 0, 1]]


def test_it_refuses_a_reference_to_a_step_in_the_same_wave(doc) -> None:
    doc["deployment_order"] = [["vector_db", "llm", "agent_runtime"]]
    errors = errors_of(doc)
    assert {e["loc"][-1] for e in errors} == {"llm_endpoint", "vectordb_endpoint"}
    assert "earlier wave" in errors[0]["msg"]
    assert errors[0]["msg"].startswith("agent_runtime.chart.values.")


def test_it_refuses_a_reference_to_a_later_step(doc) -> None:
    doc["deployment_order"] = ["agent_runtime", "vector_db", "llm"]
    assert len(errors_of(doc)) == 2


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{ steps.llm.outputs.bogus }}", "unknown output 'bogus'"),
        ("{{ steps.ghost.outputs.endpoint_url }}", "no component named 'ghost'"),
        ("{{ steps.llm.endpoint_url }}", "steps.<component>.outputs.<output>"),
        ("{{ parameters.nope }}", "not a declared parameter"),
        ("{{ params.nope | default(1) }}", "not a declared parameter"),
        ("{{ deployment.owner }}", "deployment.owner"),
        ("{{ secrets.token }}", "unknown name 'secrets'"),
        ("{{ steps.llm.outputs.endpoint_url ", "Jinja syntax error"),
        ("{% if %}x{% endif %}", "Jinja syntax error"),
    ],
)
def test_it_refuses_bad_jinja_references(doc, expression: str, expected: str) -> None:
    doc["components"][2]["chart"]["values"]["extra"] = {"list": [expression]}
    errors = errors_of(doc)
    assert errors[0]["loc"] == ["components", 2, "chart", "values", "extra", "list", 0]
    assert expected in errors[0]["msg"]


@pytest.mark.parametrize(
    "expression",
    [
        "{{ params.agent_concurrency }}",
        "{{ parameters['agent_concurrency'] * 2 }}",
        "{{ steps['llm'].outputs['endpoint_url'] }}/v1",
        "{{ deployment.name }}-{{ deployment.namespace }}-{{ deployment.id }}",
        "{% for s in steps.llm.outputs.services %}{{ s }}{% endfor %}",
        "plain text with no template",
    ],
)
def test_it_accepts_good_jinja_references(doc, expression: str) -> None:
    doc["components"][2]["chart"]["values"]["extra"] = expression
    validate_template(doc)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "integer", "default": 1, "min": 5}, "default"),
        ({"type": "integer", "default": 1.5}, "default"),
        ({"type": "integer", "default": True}, "default"),
        ({"type": "float", "min": 3, "max": 1}, "max"),
        ({"type": "string", "min": 1}, "min"),
        ({"type": "select", "default": "c", "options": ["a", "b"]}, "default"),
        ({"type": "select"}, "options"),
        ({"type": "string", "options": ["a"]}, "options"),
        ({"type": "boolean", "default": "yes"}, "default"),
        ({"type": "select", "options": ["a", "a"]}, "options"),
    ],
)
def test_it_refuses_parameters_whose_defaults_break_their_constraints(doc, spec, field: str) -> None:
    doc["parameters"]["p"] = spec
    assert locs(doc) == [["parameters", "p", field]]


def test_it_refuses_unknown_parameter_types_and_keys(doc) -> None:
    doc["parameters"]["p"] = {"type": "date", "maximum": 3}
    assert sorted(map(tuple, locs(doc))) == [("parameters", "p", "maximum"), ("parameters", "p", "type")]


def test_it_checks_supplied_parameter_values() -> None:
    spec = {"type": "integer", "min": 1, "max": 10}
    assert parameter_value_problem(spec, 5) is None
    assert "above the maximum" in parameter_value_problem(spec, 11)
    assert "an integer" in parameter_value_problem(spec, "5")
    assert parameter_value_problem({"type": "float"}, 2) is None


@pytest.mark.parametrize("name", ["My-Template", "a_b", "-x", "x" * 64, "has space"])
def test_it_refuses_names_that_are_not_slugs(doc, name: str) -> None:
    doc["name"] = name
    assert locs(doc) == [["name"]]


def test_it_reserves_the_system_prefix_for_catalog_templates(doc) -> None:
    doc["name"] = "system-agent"
    assert "reserved" in errors_of(doc)[0]["msg"]
    assert validate_template(doc, system=True).name == "system-agent"


def test_it_refuses_bad_component_names_duplicates_and_the_reserved_step_id(doc) -> None:
    doc["components"][1]["name"] = "vector_db"
    doc["components"].append({"name": "cluster_health", "type": "model", "default_component": "mistral-7b"})
    doc["components"].append({"name": "Bad-Name", "type": "model", "default_component": "mistral-7b"})
    doc.pop("deployment_order")
    doc["components"][2]["chart"]["values"] = {}
    assert sorted(map(tuple, locs(doc))) == [
        ("components", 1, "name"), ("components", 3, "name"), ("components", 4, "name"),
    ]  # fmt: skip


def test_it_checks_catalog_selections_against_the_component_type(doc) -> None:
    doc["components"][0]["compatible_components"] = ["qdrant", "llama-3-8b"]
    doc["components"][1]["default_component"] = "no-such-model"
    errors = errors_of(doc)
    assert [e["loc"] for e in errors] == [
        ["components", 0, "compatible_components", 1],
        ["components", 1, "default_component"],
    ]
    assert "known: qdrant, milvus" in errors[0]["msg"]


def test_it_requires_the_default_among_compatible_components(doc) -> None:
    doc["components"][0]["default_component"] = "milvus"
    doc["components"][0]["compatible_components"] = ["qdrant"]
    assert locs(doc) == [["components", 0, "default_component"]]


def test_it_gives_shape_errors_with_plain_paths(doc) -> None:
    doc["components"][2]["chart"]["refs"] = "x"
    doc["components"][1]["type"] = "database"
    doc["tags"] = "agent"
    assert sorted(map(str, locs(doc))) == sorted(
        map(str, [["components", 2, "chart", "refs"], ["components", 1, "type"], ["tags"]])
    )


def test_it_refuses_a_document_that_is_not_a_mapping() -> None:
    assert errors_of(["a"])[0]["msg"].startswith("a template must be a mapping")


def test_it_refuses_yaml_bombs_deep_nesting_and_huge_documents() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(ServiceValidationError, match="after aliases|expanded"):
        load_yaml(bomb)
    with pytest.raises(ServiceValidationError, match="deeper than 32"):
        load_yaml("a: " + "[" * 40 + "]" * 40)
    with pytest.raises(ServiceValidationError, match="deeper than 32"):
        load_yaml("a: &a [*a]")
    with pytest.raises(ServiceValidationError, match="larger than"):
        load_yaml("a: " + "x" * (2 * 1024 * 1024 + 1))


def test_it_reports_yaml_syntax_errors_with_the_line() -> None:
    with pytest.raises(ServiceValidationError, match="line 3"):
        load_yaml("a: 1\nb: [\n")


def test_it_keeps_dates_as_text_and_refuses_values_json_cannot_hold() -> None:
    assert load_yaml("released: 2024-01-01") == {"released": "2024-01-01"}
    with pytest.raises(ServiceValidationError, match="finite"):
        load_yaml("x: .nan")
    with pytest.raises(ServiceValidationError, match="unsupported"):
        load_yaml("x: !!binary aGVsbG8=")
    with pytest.raises(ServiceValidationError, match="keys must be text"):
        load_yaml("1: a")


def test_it_resolves_parameter_values_from_defaults_and_supplied_values() -> None:
    parameters = {
        "replicas": {"type": "integer", "default": 1, "min": 1, "max": 4},
        "mode": {"type": "select", "options": ["fast", "exact"]},
    }
    assert resolve_parameter_values(parameters, {"mode": "fast"}) == {"replicas": 1, "mode": "fast"}
    with pytest.raises(ServiceValidationError) as info:
        resolve_parameter_values(parameters, {"replicas": 9, "bogus": 1})
    assert sorted(map(tuple, (e["loc"] for e in info.value.errors))) == [
        ("parameters", "bogus"), ("parameters", "mode"), ("parameters", "replicas"),
    ]  # fmt: skip
    assert "required" in next(e["msg"] for e in info.value.errors if e["loc"][-1] == "mode")


def test_it_reserves_the_validate_name(doc) -> None:
    doc["name"] = "validate"
    assert "reserved" in errors_of(doc)[0]["msg"]
