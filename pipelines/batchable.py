"""Which steps a worker may run in a batch (issue 16; ``pipelines.batching`` runs them, ``pipelines.engine``
queues them in chunks): a batchable action (``ActionMeta.batchable``), params without Jinja, no condition."""

from __future__ import annotations

from pipelines.actions.registry import all_actions, get_action
from pipelines.params import has_templates


class QuickSteps(list[int]):
    """Primary keys of batchable steps: dispatched as one task per chunk (``pipelines.tasks.run_steps``)
    rather than one per step. A list, so that whatever takes a list of pks takes it unchanged."""


def batchable_types() -> list[str]:
    return sorted(action.meta.type for action in all_actions() if action.meta.batchable)


def batchable(dag_step: dict) -> bool:
    """A step a batch may run: nothing to render (no render-pool round trip, no step outputs to read)."""
    action = get_action(str(dag_step.get("action") or ""))
    if action is None or not action.meta.batchable:
        return False
    if dag_step.get("condition") not in (None, True):
        return False
    return not has_templates(dag_step.get("params") or {})
