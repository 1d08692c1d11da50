"""DAG validation at submit: shape, unique ids, known actions and dependencies, no cycles, each action's
``validate_params``, and ``{{ steps.X.outputs.Y }}`` only for ancestors X with Y among X's declared outputs.

Linear in the size of the DAG (ancestor sets are bitsets over a topological order), so 5,000 steps
validate well under a second.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from jinja2 import TemplateError

from pipelines.actions.registry import get_action
from pipelines.params import (
    SCOPE_NAMES,
    depth_errors,
    iter_strings,
    references_in,
    undeclared_names,
)

MAX_STEPS = 10_000
ON_FAILURE = ("fail", "continue")
Error = dict[str, Any]


def _err(loc: list, msg: str) -> Error:
    return {"loc": loc, "msg": msg}


def validate_dag(dag: Any) -> list[Error]:
    """All problems found in ``dag`` as ``{"loc": [...], "msg": ...}``; empty when it can run."""
    if not isinstance(dag, dict):
        return [_err([], "the DAG must be a JSON object")]
    if too_deep := depth_errors(dag):
        return too_deep  # before anything recursive walks it (params rendering used to hit RecursionError)
    errors = _validate_top(dag)
    steps = dag.get("steps")
    if not isinstance(steps, list) or not steps:
        return [*errors, _err(["steps"], "a DAG needs a non-empty list of steps")]
    if len(steps) > MAX_STEPS:
        return [*errors, _err(["steps"], f"at most {MAX_STEPS} steps are allowed")]
    index, shape_errors = _index_steps(steps)
    errors += shape_errors
    errors += _validate_dependencies(steps, index)
    order, cycle_errors = _topological_order(steps, index)
    errors += cycle_errors
    if not errors:
        errors += _validate_templates(steps, index, order)
    return errors


def validate_references(dag: dict, owner: Any) -> list[Error]:
    """Ids in a valid DAG's step params that ``owner`` may not name, each with its ``loc``."""
    errors = []
    for i, step in enumerate(dag["steps"]):
        action = get_action(step["action"])
        missing = [p for p in action.meta.required_permissions if not owner.has_perm(p)]
        if missing:  # an action may require a permission (plugins especially): refuse before anything runs
            errors.append(_err(["steps", i, "action"], f"needs the permission {', '.join(missing)}"))
            continue
        errors += [_param_error(i, msg) for msg in action.validate_references(step.get("params") or {}, owner)]
    return errors


def submission_errors(dag: Any, owner: Any, parameters: Any = None) -> list[Error]:
    """Everything ``execution_submit`` checks before storing anything: the DAG, the ids its params name and
    the permissions its actions need (for ``owner``), and the parameters' shape."""
    errors = validate_dag(dag)
    errors = errors or validate_references(dag, owner)
    if parameters is not None and not isinstance(parameters, dict):
        errors.append(_err(["parameters"], "must be an object"))
    return errors + depth_errors(parameters, ("parameters",))


def _validate_top(dag: dict) -> list[Error]:
    errors = []
    settings = dag.get("settings", {})
    if not isinstance(settings, dict):
        return [_err(["settings"], "must be an object")]
    for key in ("timeout_seconds", "max_parallel_steps"):
        value = settings.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            errors.append(_err(["settings", key], "must be a positive integer"))
    if settings.get("on_failure", "fail") not in ON_FAILURE:
        errors.append(_err(["settings", "on_failure"], f"must be one of {', '.join(ON_FAILURE)}"))
    topics = dag.get("callback_topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
        errors.append(_err(["callback_topics"], "must be a list of topic names"))
    for key in ("parameters", "outputs"):
        if key in dag and not isinstance(dag[key], dict | list):
            errors.append(_err([key], "must be an object"))
    return errors


def _index_steps(steps: list) -> tuple[dict[str, int], list[Error]]:
    index: dict[str, int] = {}
    errors: list[Error] = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            errors.append(_err(["steps", i], "each step must be an object"))
            continue
        step_id = step.get("id")
        if not isinstance(step_id, str) or not step_id.strip():
            errors.append(_err(["steps", i, "id"], "a step needs a non-empty string id"))
            continue
        if step_id in index:
            errors.append(_err(["steps", i, "id"], f"duplicate step id {step_id!r} (also step {index[step_id]})"))
            continue
        index[step_id] = i
        errors += _validate_step_fields(step, i)
    return index, errors


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _validate_step_fields(step: dict, i: int) -> list[Error]:
    errors = []
    action = get_action(step.get("action")) if isinstance(step.get("action"), str) else None
    if action is None:
        errors.append(_err(["steps", i, "action"], f"unknown action {step.get('action')!r}"))
    params = step.get("params", {})
    if not isinstance(params, dict):
        errors.append(_err(["steps", i, "params"], "must be an object"))
    elif action is not None:
        errors += [_param_error(i, msg) for msg in action.validate_params(params)]
    if not isinstance(step.get("depends_on", []), list):
        errors.append(_err(["steps", i, "depends_on"], "must be a list of step ids"))
    if "timeout_seconds" in step and not _positive_int(step["timeout_seconds"]):
        errors.append(_err(["steps", i, "timeout_seconds"], "must be a positive integer"))
    if "condition" in step and not isinstance(step["condition"], str | bool):
        errors.append(_err(["steps", i, "condition"], "must be a Jinja expression string"))
    if step.get("on_failure", "fail") not in ON_FAILURE:
        errors.append(_err(["steps", i, "on_failure"], f"must be one of {', '.join(ON_FAILURE)}"))
    return errors + _validate_retry(step.get("retry"), i)


def _param_error(i: int, msg: str) -> Error:
    """``"cluster_id: required"`` → loc ``["steps", i, "params", "cluster_id"]``."""
    name, sep, rest = msg.partition(":")
    if sep and name and " " not in name.strip():
        return _err(["steps", i, "params", name.strip()], rest.strip() or msg)
    return _err(["steps", i, "params"], msg)


def _validate_retry(retry: Any, i: int) -> list[Error]:
    if retry is None:
        return []
    if not isinstance(retry, dict):
        return [_err(["steps", i, "retry"], "must be an object {max_attempts, backoff_seconds}")]
    errors = []
    if "max_attempts" in retry and not (_positive_int(retry["max_attempts"]) and retry["max_attempts"] <= 20):
        errors.append(_err(["steps", i, "retry", "max_attempts"], "must be an integer from 1 to 20"))
    backoff = retry.get("backoff_seconds", 0)
    if not isinstance(backoff, int | float) or isinstance(backoff, bool) or not 0 <= backoff <= 3600:
        errors.append(_err(["steps", i, "retry", "backoff_seconds"], "must be a number from 0 to 3600"))
    return errors


def _deps(step: Any) -> list:
    deps = step.get("depends_on", []) if isinstance(step, dict) else []
    return deps if isinstance(deps, list) else []


def _validate_dependencies(steps: list, index: dict[str, int]) -> list[Error]:
    errors = []
    for i, step in enumerate(steps):
        seen = set()
        for j, dep in enumerate(_deps(step)):
            if not isinstance(dep, str) or dep not in index:
                errors.append(_err(["steps", i, "depends_on", j], f"unknown step {dep!r}"))
            elif dep == step.get("id"):
                errors.append(_err(["steps", i, "depends_on", j], "a step cannot depend on itself"))
            elif dep in seen:
                errors.append(_err(["steps", i, "depends_on", j], f"{dep!r} is listed twice"))
            seen.add(dep)
    return errors


def _topological_order(steps: list, index: dict[str, int]) -> tuple[list[int], list[Error]]:
    """Kahn's algorithm over valid edges; what is left over contains a cycle, which is named."""
    children: list[list[int]] = [[] for _ in steps]
    indegree = [0] * len(steps)
    for i, step in enumerate(steps):
        for dep in {d for d in _deps(step) if isinstance(d, str) and d in index and d != step.get("id")}:
            children[index[dep]].append(i)
            indegree[i] += 1
    queue = deque(i for i in range(len(steps)) if indegree[i] == 0)
    order = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for child in children[i]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    if len(order) == len(steps):
        return order, []
    return order, [_cycle_error(steps, index, {i for i in range(len(steps)) if indegree[i] > 0})]


def _cycle_error(steps: list, index: dict[str, int], remaining: set[int]) -> Error:
    """Walk dependencies inside the left-over set until a step repeats: that loop is a cycle."""
    start = min(remaining)
    path: list[int] = []
    seen: dict[int, int] = {}
    current = start
    while current not in seen:
        seen[current] = len(path)
        path.append(current)
        current = next(index[d] for d in _deps(steps[current]) if isinstance(d, str) and index.get(d) in remaining)
    cycle = path[seen[current] :]
    names = [steps[i]["id"] for i in reversed(cycle)]
    return _err(["steps", cycle[0], "depends_on"], "dependency cycle: " + " → ".join([*names, names[0]]))


def declared_outputs(step: dict) -> set[str] | None:
    """Outputs a step's action declares for its params; None means any name is allowed."""
    return get_action(step["action"]).declared_outputs(step.get("params") or {})


def _ancestor_sets(steps: list, index: dict[str, int], order: list[int]) -> list[int]:
    """Bitset of ancestors per step, computed once in topological order."""
    ancestors = [0] * len(steps)
    for i in order:
        bits = 0
        for dep in _deps(steps[i]):
            j = index[dep]
            bits |= ancestors[j] | (1 << j)
        ancestors[i] = bits
    return ancestors


def _validate_templates(steps: list, index: dict[str, int], order: list[int]) -> list[Error]:
    errors: list[Error] = []
    ancestors: list[int] | None = None
    outputs_cache: dict[int, set[str] | None] = {}
    for i, step in enumerate(steps):
        sources = list(iter_strings(step.get("params") or {}, ("params",)))
        if isinstance(step.get("condition"), str):
            sources.append((("condition",), step["condition"]))
        for path, source in sources:
            loc = ["steps", i, *path]
            refs, problem = _template_refs(source, path == ("condition",))
            if problem:
                errors.append(_err(loc, problem))
                continue
            if refs and ancestors is None:
                ancestors = _ancestor_sets(steps, index, order)
            for ref_step, ref_output in sorted(refs):
                msg = _reference_problem(steps, index, ancestors, outputs_cache, i, ref_step, ref_output)
                if msg:
                    errors.append(_err(loc, msg))
    return errors


_SIMPLE_EXPRESSION = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


def _simple_refs(text: str) -> tuple[set[str], set[tuple[str, str]]] | None:
    """Fast path for the common case, templates made only of ``{{ dotted.names }}``: (names, step refs)
    without building a Jinja AST. None when the template needs the real parser."""
    paths = _SIMPLE_EXPRESSION.findall(text)
    rest = _SIMPLE_EXPRESSION.sub("", text)
    if not paths or "{{" in rest or "{%" in rest or "}}" in rest or "{#" in rest:
        return None
    names, refs = set(), set()
    for path in paths:
        parts = path.split(".")
        names.add(parts[0])
        if parts[0] == "steps" and len(parts) > 1:
            refs.add((parts[1], parts[3] if len(parts) > 3 and parts[2] == "outputs" else ""))
    return names, refs


def _template_refs(source: str, is_condition: bool) -> tuple[set[tuple[str, str]], str | None]:
    text = source if not is_condition or "{{" in source else "{{ " + source + " }}"
    simple = _simple_refs(text)
    if simple is not None:
        unknown = simple[0] - SCOPE_NAMES
        return (set(), _unknown_names_message(unknown)) if unknown else (simple[1], None)
    try:
        unknown = undeclared_names(text) - SCOPE_NAMES
        refs = references_in(text)
    except TemplateError as exc:
        return set(), f"template syntax error: {exc}"
    if unknown:
        return set(), _unknown_names_message(unknown)
    return refs, None


def _unknown_names_message(unknown: set[str]) -> str:
    return f"undefined name(s) {', '.join(sorted(unknown))}; only {', '.join(sorted(SCOPE_NAMES))} are in scope"


def _reference_problem(steps, index, ancestors, outputs_cache, i, ref_step, ref_output) -> str | None:
    j = index.get(ref_step)
    if j is None:
        return f"steps.{ref_step}: no such step"
    if not (ancestors[i] >> j) & 1:
        return f"steps.{ref_step} is not an ancestor of this step; add it to depends_on"
    if j not in outputs_cache:
        outputs_cache[j] = declared_outputs(steps[j])
    declared = outputs_cache[j]
    if ref_output and declared is not None and ref_output not in declared:
        names = ", ".join(sorted(declared)) or "none"
        return (
            f"steps.{ref_step}.outputs.{ref_output}: {steps[j]['action']} declares no output {ref_output!r} ({names})"
        )
    return None
