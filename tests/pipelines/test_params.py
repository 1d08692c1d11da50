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
    rendered = render({"r": "{{ parameters.replicas }}", "d": "{{ params.debug }}", "c": "{{ steps.llm.outputs.cfg }}"}, CTX)
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


@pytest.mark.parametrize("source", ["{{ ''.__class__.__mro__ }}", "{{ steps.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}"])
def test_it_refuses_sandbox_escapes(source):
    with pytest.raises(RenderError) as exc:
        render(source, CTX)
    assert "unsafe" in str(exc.value) or "Security" in str(exc.value)


def test_it_finds_step_output_references():
    value = {"a": "{{ steps.x.outputs.y }}-{{ steps['z'].outputs['w'] }}", "b": ["{{ parameters.n }}"]}
    assert find_references(value) == {("x", "y"), ("z", "w")}
