import pytest

from pipelines.models import PipelineExecution, StepExecution
from pipelines.services import execution_submit


def step(step_id: str, action: str = "log", depends_on=(), **extra) -> dict:
    params = extra.pop("params", {"message": step_id} if action == "log" else {})
    return {"id": step_id, "action": action, "depends_on": list(depends_on), "params": params, **extra}


def dag(*steps: dict, **top) -> dict:
    return {"name": top.pop("name", "test-dag"), "version": "1.0.0", "steps": list(steps), **top}


def statuses(execution: PipelineExecution) -> dict[str, str]:
    return dict(StepExecution.objects.filter(execution=execution).values_list("step_id", "status"))


@pytest.fixture
def run(owner, django_capture_on_commit_callbacks):
    """Submit a DAG and run every queued task inline (django-q2 ``sync: True``); returns the fresh execution."""

    def _run(the_dag: dict, user=None, **kwargs) -> PipelineExecution:
        with django_capture_on_commit_callbacks(execute=True):
            execution = execution_submit(dag=the_dag, owner=user or owner, **kwargs)
        execution.refresh_from_db()
        return execution

    return _run
