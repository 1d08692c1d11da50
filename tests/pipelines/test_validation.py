import pytest

from budportal.errors import ServiceValidationError
from pipelines.models import PipelineExecution
from pipelines.services import execution_submit
from pipelines.validation import validate_dag
from tests.pipelines.conftest import dag, step

pytestmark = pytest.mark.django_db


def locs(errors: list[dict]) -> list[list]:
    return [e["loc"] for e in errors]


def test_it_accepts_the_seed_shape_with_parallel_branches():
    assert (
        validate_dag(
            dag(
                step("a"),
                step("b", depends_on=["a"]),
                step("c", depends_on=["a"]),
                step("d", depends_on=["b", "c"]),
                settings={"on_failure": "fail"},
            )
        )
        == []
    )


def test_it_refuses_a_cycle_and_names_it():
    errors = validate_dag(dag(step("a", depends_on=["c"]), step("b", depends_on=["a"]), step("c", depends_on=["b"])))
    assert len(errors) == 1
    assert errors[0]["loc"][:1] == ["steps"]
    assert errors[0]["loc"][-1] == "depends_on"
    assert "cycle" in errors[0]["msg"]
    for name in ("a", "b", "c"):
        assert name in errors[0]["msg"]


def test_it_refuses_an_unknown_dependency_with_its_path():
    errors = validate_dag(dag(step("a"), step("b", depends_on=["a", "nope"])))
    assert locs(errors) == [["steps", 1, "depends_on", 1]]
    assert "nope" in errors[0]["msg"]


def test_it_refuses_duplicate_ids():
    errors = validate_dag(dag(step("a"), step("a")))
    assert locs(errors) == [["steps", 1, "id"]]
    assert "duplicate" in errors[0]["msg"]


def test_it_refuses_an_unknown_action():
    errors = validate_dag(dag(step("a", "launch_rockets")))
    assert locs(errors) == [["steps", 0, "action"]]


def test_it_reports_the_actions_own_param_errors_at_the_param():
    errors = validate_dag(dag(step("a", "log", params={"level": "loud"})))
    assert ["steps", 0, "params", "message"] in locs(errors)
    assert ["steps", 0, "params", "level"] in locs(errors)


def test_it_refuses_references_to_steps_that_are_not_ancestors():
    the_dag = dag(
        step("a"), step("b"), step("c", "set_output", ["a"], params={"values": {"x": "{{ steps.b.outputs.message }}"}})
    )
    errors = validate_dag(the_dag)
    assert locs(errors) == [["steps", 2, "params", "values", "x"]]
    assert "not an ancestor" in errors[0]["msg"]


def test_it_refuses_references_to_undeclared_outputs():
    the_dag = dag(step("a"), step("b", "log", ["a"], params={"message": "{{ steps.a.outputs.endpoint_url }}"}))
    errors = validate_dag(the_dag)
    assert locs(errors) == [["steps", 1, "params", "message"]]
    assert "endpoint_url" in errors[0]["msg"]


def test_it_accepts_references_to_set_output_values_of_a_grandparent():
    the_dag = dag(
        step("a", "set_output", params={"values": {"port": 8080}}),
        step("b", depends_on=["a"]),
        step("c", "log", ["b"], params={"message": "port {{ steps.a.outputs.port }}"}),
    )
    assert validate_dag(the_dag) == []


def test_it_refuses_unknown_names_and_bad_syntax_in_templates():
    errors = validate_dag(
        dag(step("a", params={"message": "{{ os.environ }}"}), step("b", params={"message": "{{ oops"}))
    )
    assert locs(errors) == [["steps", 0, "params", "message"], ["steps", 1, "params", "message"]]


def test_it_refuses_bad_settings_and_retry():
    errors = validate_dag(dag(step("a", retry={"max_attempts": 0}), settings={"on_failure": "explode"}))
    assert ["settings", "on_failure"] in locs(errors)
    assert ["steps", 0, "retry", "max_attempts"] in locs(errors)


def test_it_raises_422_shaped_errors_and_stores_nothing(owner):
    with pytest.raises(ServiceValidationError) as exc:
        execution_submit(dag=dag(step("a"), step("b", depends_on=["zz"])), owner=owner)
    assert exc.value.errors == [{"loc": ["steps", 1, "depends_on", 0], "msg": "unknown step 'zz'"}]
    assert PipelineExecution.objects.count() == 0


def test_it_validates_a_5000_step_chain_with_references():
    steps = [step("s0")] + [
        step(f"s{i}", "log", [f"s{i - 1}"], params={"message": "after {{ steps.s%d.outputs.message }}" % (i - 1)})
        for i in range(1, 5000)
    ]
    # How long this takes is measured by tests/bench/bench_pipeline.py, not asserted here.
    assert validate_dag(dag(*steps)) == []
    steps[-1]["params"]["message"] = "{{ steps.s0.outputs.nope }}"
    assert [e["loc"] for e in validate_dag(dag(*steps))] == [["steps", 4999, "params", "message"]]
