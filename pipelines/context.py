"""The Jinja scope of an execution: its parameters, the outputs of its finished steps, the deployment.

Steps' params are rendered in it by the runner, and the DAG's ``outputs`` by the engine when the execution ends.
"""

from __future__ import annotations

from typing import Any

from pipelines.models import PipelineExecution, StepExecution, StepStatus


def parameter_values(execution: PipelineExecution) -> dict[str, Any]:
    """DAG parameter defaults (a dict, or a list of ``{name, default}``) overridden by the submitted values."""
    declared = execution.dag.get("parameters") or {}
    if isinstance(declared, list):
        declared = {p["name"]: p.get("default") for p in declared if isinstance(p, dict) and "name" in p}
    return {**declared, **(execution.parameters or {})}


def render_context(execution: PipelineExecution, needed: set[str] | None) -> dict[str, Any]:
    """Jinja scope. ``needed`` limits the step rows loaded to the referenced ones (None loads all)."""
    steps: dict[str, dict] = {}
    if needed is None or needed:
        rows = StepExecution.objects.filter(execution=execution, status__in=(StepStatus.COMPLETED, StepStatus.SKIPPED))
        if needed is not None:
            rows = rows.filter(step_id__in=needed)
        steps = {
            sid: {"outputs": out, "status": st} for sid, out, st in rows.values_list("step_id", "outputs", "status")
        }
    parameters = parameter_values(execution)
    return {
        "steps": steps,
        "parameters": parameters,
        "params": parameters,
        "deployment": execution.dag.get("deployment") or parameters.get("deployment") or {},
        "execution": {
            "id": str(execution.pk),
            "name": execution.name,
            "deployment_id": str(execution.deployment_id or ""),
        },
    }
