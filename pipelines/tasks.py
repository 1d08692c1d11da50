"""django-q2 entry points: load by id, call the engine, nothing else."""

import time

from pipelines import runner
from pipelines import sweep as sweep_module
from pipelines.events import dispatch, retry_delay
from pipelines.logcontext import log_context
from pipelines.models import Event


def run_step(step_pk: int) -> None:
    with log_context(step_pk=step_pk):
        runner.run_step(step_pk)


def run_steps(step_pks: list[int]) -> None:
    """A chunk of batchable steps (issue 16): the worker claims them together."""
    with log_context(step_pk=step_pks[0] if step_pks else None):
        runner.run_steps(step_pks)


def dispatch_event(event_pk: int, handler_name: str | None = None) -> None:
    with log_context(event_id=event_pk):
        event = Event.objects.filter(pk=event_pk).first()
        if event is not None and not event.delivered:
            time.sleep(retry_delay(event.failures))  # a short outage should not use up every quick retry at once
            dispatch(event, only=handler_name)


def sweep() -> dict:
    with log_context():
        return sweep_module.sweep()
