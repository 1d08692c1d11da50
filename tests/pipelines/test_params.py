import pytest

from pipelines.params import RenderError, find_references, render

CTX = {
    "steps": {"llm": {"outputs": {"endpoint_url": "http://llm:8000", "replicas": 2, "cfg": {"a": [1, 2]}}}},
    "parameters": {"replicas": 3, "debug": True},
    "params": {"replicas": 3, "debug": True},
    "deployment": {"namespace": "uc-1234abcd"},
    "execution": {"id": "e1"},
}


def test_it_keeps_the_type_of_single_expression_strings():
    rendered = render(
        {"r": "{{ parameters.replicas }}", "d": "{{ params.debug }}", "c": "{{ steps.llm.outputs.cfg }}"}, CTX
    )
    assert rendered == {"r": 3, "d": True, "c": {"a": [1, 2]}}


def test_it_renders_mixed_strings_recursively_through_lists():
    value = {"values": {"urls": ["{{ steps.llm.outputs.endpoint_url }}/v1", "ns={{ deployment.namespace }}"]}}
    assert render(value, CTX) == {"values": {"urls": ["http://llm:8000/v1", "ns=uc-1234abcd"]}}


@pytest.mark.parametrize("source", ["{{ nope }}", "x {{ steps.llm.outputs.missing }}", "{{ steps.other.outputs.x }}"])
def test_it_fails_on_undefined_names_instead_of_rendering_empty(source):
    with pytest.raises(RenderError) as exc:
        render({"v": source}, CTX)
    assert exc.value.path == ("v",)
    assert "undefined" in str(exc.value).lower() or "no attribute" in str(exc.value)


@pytest.mark.parametrize(
    "source", ["{{ ''.__class__.__mro__ }}", "{{ steps.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}"]
)
def test_it_refuses_sandbox_escapes(source):
    with pytest.raises(RenderError) as exc:
        render(source, CTX)
    assert "unsafe" in str(exc.value) or "Security" in str(exc.value)


def test_it_finds_step_output_references():
    value = {"a": "{{ steps.x.outputs.y }}-{{ steps['z'].outputs['w'] }}", "b": ["{{ parameters.n }}"]}
    assert find_references(value) == {("x", "y"), ("z", "w")}


BOMBS = [
    ("{{ range(10**9)|list|length }}", "range() of 1,000,000,000 items"),
    ("{% for i in range(10**4) %}{% for j in range(10**4) %}{% endfor %}{% endfor %}", "too much work"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "too much work"),
    ("{{ 'x' * 10**7 }}", "str * 10,000,000"),
    ("{{ [0] * 10**6 }}", "list * 1,000,000"),
    ("{{ 2 ** 100000 }}", "too large"),
    ("{{ 'x'|center(10**7) }}", "center filter"),
    ("{{ 'x'.ljust(10**8) }}", "str.ljust()"),
    ("{{ '%0100000000d' % 1 }}", "formatted field"),
    ("{{ '{:>100000000}'.format(1) }}", "formatted field"),
    ("{{ ('x' * 1000)|replace('x', 'y' * 10000) }}", "str.replace()"),
    (
        "{% set ns = namespace(a='x') %}{% for i in range(60) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}",
        "concatenation",
    ),
    ("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "rendered text"),
]


@pytest.mark.parametrize(("source", "message"), BOMBS)
def test_it_refuses_resource_bombs_with_a_clear_error(source, message):
    with pytest.raises(RenderError) as caught:
        render({"v": source}, CTX)
    assert caught.value.path == ("v",)
    assert "TemplateLimitError" in caught.value.message, caught.value.message
    assert message in caught.value.message, caught.value.message


def test_it_still_renders_ordinary_arithmetic_formatting_and_loops():
    value = {
        "a": "{{ 'r' ~ parameters.replicas ~ '-' ~ ('ab' * 2) }}",
        "b": "{{ '%03d' % parameters.replicas }}",
        "c": "{% for i in range(3) %}{{ i }}{% endfor %}",
        "d": "{{ 2 ** 10 + 7 // 2 }}",
        "e": "{{ ['x', 'y']|join(',') }}|{{ 'ab'|center(6) }}|{{ '{:>4}'.format('z') }}",
    }
    assert render(value, CTX) == {"a": "r3-abab", "b": "003", "c": "012", "d": 1027, "e": "x,y|  ab  |   z"}
