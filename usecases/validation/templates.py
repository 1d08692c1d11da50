"""Every rule a use-case template must satisfy before it is saved.

``validate_template(data)`` checks the shape (``template_schema``), then the rules that span fields: names,
charts and values, the component catalog, the deployment waves, parameters and Jinja references. All problems
are collected and raised together as one ServiceValidationError whose ``loc`` paths point into the document
(``["components", 2, "chart", "ref"]``), so the API answers 422 and the admin shows them inline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from budportal.errors import ServiceValidationError, dotted
from clusterjobs.registries import chart_version_problem
from clusterjobs.validators import find_blocked_values, validate_chart_ref
from usecases import component_catalog
from usecases.template_refs import global_names, scan
from usecases.template_schema import (
    DEPLOYMENT_FIELDS,
    STEP_OUTPUTS,
    ParameterSpec,
    TemplateComponent,
    TemplateDocument,
    parse_document,
)

Errors = list[dict[str, Any]]

SYSTEM_PREFIX = "system-"
# The DAG builder adds a step with this id before the components; a component must not take it.
RESERVED_STEP_IDS = ("cluster_health",)
# /api/templates/validate is an endpoint, so a template cannot be called that.
RESERVED_TEMPLATE_NAMES = ("validate", "sync")
TEMPLATE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CHART_VERSION = re.compile(r"^[0-9A-Za-z.+~^*<>=, |-]{1,64}$")
ROOT_NAMES = ("steps", "parameters", "params", "deployment")


@dataclass(frozen=True)
class ValidatedTemplate:
    document: TemplateDocument
    waves: list[list[str]]

    @property
    def name(self) -> str:
        return self.document.name

    def model_fields(self) -> dict[str, Any]:
        """The document as UseCaseTemplate field values (JSON-ready; unset optional keys left out)."""
        doc = self.document.model_dump(mode="json", exclude_none=True)
        doc["deployment_order"] = doc.get("deployment_order") or []
        for component in doc["components"]:
            component["display_name"] = component["display_name"] or _title(component["name"])
        return doc


def remote_chart_errors(validated: ValidatedTemplate, *, owner_id: int) -> Errors:
    """A helm component's chart version must exist in its remote repository or registry (asked over the
    network with the owner's stored credentials), so a typo is refused at save, naming the versions there."""
    errors: Errors = []
    for index, component in enumerate(validated.document.components):
        chart = component.chart if component.type == "helm" else None
        if chart is not None and chart.version:
            problem = chart_version_problem(owner_id=owner_id, ref=chart.ref, constraint=chart.version)
            errors += [_err(["components", index, "chart", "version"], problem)] if problem else []
    return errors


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def validate_template(data: Any, *, system: bool = False, charts_dir: Path | None = None) -> ValidatedTemplate:
    """The validated template, or ServiceValidationError listing every problem.

    ``system`` is True for catalog templates, which may use the reserved ``system-`` name prefix.
    """
    doc = parse_document(data)
    errors: Errors = _name_errors(doc, system=system)
    errors += _component_errors(doc, charts_dir=charts_dir)
    waves, order_errors = order_waves(doc.deployment_order, [c.name for c in doc.components])
    errors += order_errors
    errors += _parameter_errors(doc.parameters)
    errors += _reference_errors(doc, waves if not order_errors else None)
    if errors:
        raise ServiceValidationError(errors)
    return ValidatedTemplate(document=doc, waves=waves)


def _err(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg}


def _name_errors(doc: TemplateDocument, *, system: bool) -> Errors:
    if not TEMPLATE_NAME.match(doc.name):
        return [_err(["name"], "must be a lowercase slug: a-z, 0-9 and '-', at most 63 characters")]
    if doc.name in RESERVED_TEMPLATE_NAMES:
        return [_err(["name"], f"'{doc.name}' is reserved (it is an API path)")]
    if doc.name.isdigit():
        # /api/templates/<digits> is the by-id route, so an all-digit name could never be reached by name.
        return [_err(["name"], "must contain a letter or '-' (all-digit paths are template ids)")]
    if doc.name.startswith(SYSTEM_PREFIX) and not system:
        return [_err(["name"], f"the '{SYSTEM_PREFIX}' prefix is reserved for catalog templates")]
    return []


def _component_errors(doc: TemplateDocument, *, charts_dir: Path | None) -> Errors:
    errors: Errors = []
    seen: set[str] = set()
    for index, component in enumerate(doc.components):
        loc: list[str | int] = ["components", index]
        if not COMPONENT_NAME.match(component.name):
            errors.append(_err([*loc, "name"], "must start with a-z and use only a-z, 0-9 and '_' (it is a step id)"))
        elif component.name in RESERVED_STEP_IDS:
            errors.append(_err([*loc, "name"], f"'{component.name}' is reserved for the deployment's own step"))
        elif component.name in seen:
            errors.append(_err([*loc, "name"], f"duplicate component name '{component.name}'"))
        seen.add(component.name)
        if component.type == "helm":
            errors += _helm_errors(component, loc, charts_dir=charts_dir)
        else:
            errors += _catalog_component_errors(component, loc)
    return errors


def _helm_errors(component: TemplateComponent, loc: list[str | int], *, charts_dir: Path | None) -> Errors:
    if component.chart is None:
        return [_err([*loc, "chart"], "'chart' is required when type is 'helm'")]
    errors: Errors = []
    if component.default_component or component.compatible_components:
        errors.append(_err(loc, "helm components install their chart; default/compatible components do not apply"))
    if component.values:
        errors.append(_err([*loc, "values"], "helm components take their values in chart.values"))
    ref_error = validate_chart_ref(component.chart.ref, charts_dir=charts_dir)
    if ref_error:
        errors.append(_err([*loc, "chart", "ref"], ref_error))
    version = component.chart.version
    if version is not None and (not CHART_VERSION.match(version) or version.startswith("-")):
        errors.append(_err([*loc, "chart", "version"], "must be a chart version or constraint, e.g. 1.2.0 or ^1.2"))
    return errors + _blocked(component, loc, ("chart", "values"), component.chart.values)


def _catalog_component_errors(component: TemplateComponent, loc: list[str | int]) -> Errors:
    if component.chart is not None:
        return [_err([*loc, "chart"], "'chart' is only allowed when type is 'helm'")]
    errors: Errors = []
    choices = component.compatible_components
    if not component.default_component and not choices:
        errors.append(_err(loc, "set default_component or compatible_components (catalog components to install)"))
    for i, name in enumerate(choices):
        errors += _catalog_choice_errors(component.type, name, [*loc, "compatible_components", i])
    if component.default_component:
        errors += _catalog_choice_errors(component.type, component.default_component, [*loc, "default_component"])
        if choices and component.default_component not in choices:
            errors.append(_err([*loc, "default_component"], "must be one of compatible_components"))
    return errors + _blocked(component, loc, ("values",), component.values)


def _catalog_choice_errors(component_type: str, name: str, loc: list[str | int]) -> Errors:
    if component_catalog.is_compatible(component_type, name):
        return []
    known = ", ".join(c["name"] for c in component_catalog.components_of_type(component_type))
    return [_err(loc, f"'{name}' is not a catalog component of type {component_type} (known: {known or 'none'})")]


def _blocked(component: TemplateComponent, loc: list[str | int], where: tuple[str, ...], values: Any) -> Errors:
    """Blocked values with the document ``loc`` and a message naming ``<component>.<where>.<path>``."""
    found = find_blocked_values(values, (component.name, *where))
    return [_err([*loc, *where, *item["loc"][1 + len(where) :]], item["msg"]) for item in found]


def order_waves(order: list[Any] | None, names: list[str]) -> tuple[list[list[str]], Errors]:
    """Waves from ``deployment_order`` (a name is a wave of one, a list is a parallel wave); without an
    order, the components' listed order as a strict chain. Every component exactly once."""
    if order is None:
        return [[name] for name in names], []
    errors: Errors = []
    waves: list[list[str]] = []
    placed: set[str] = set()
    for i, entry in enumerate(order):
        members = [entry] if isinstance(entry, str) else entry
        if not isinstance(members, list) or not members:
            errors.append(_err(["deployment_order", i], "must be a component name or a non-empty list of names"))
            continue
        wave = []
        for j, name in enumerate(members):
            loc: list[str | int] = ["deployment_order", i] if isinstance(entry, str) else ["deployment_order", i, j]
            if not isinstance(name, str) or name not in names:
                errors.append(_err(loc, f"unknown component {name!r}"))
            elif name in placed:
                errors.append(_err(loc, f"component '{name}' appears more than once"))
            else:
                placed.add(name)
                wave.append(name)
        waves.append(wave)
    missing = [name for name in names if name not in placed]
    if missing and not errors:
        errors.append(_err(["deployment_order"], f"components missing from the order: {', '.join(missing)}"))
    return [w for w in waves if w], errors


def _parameter_errors(parameters: dict[str, ParameterSpec]) -> Errors:
    errors: Errors = []
    for name, spec in parameters.items():
        loc: list[str | int] = ["parameters", name]
        if not PARAMETER_NAME.match(name):
            errors.append(_err(loc, "parameter names use letters, digits and '_' and do not start with a digit"))
        errors += [_err([*loc, field], msg) for field, msg in parameter_spec_problems(spec)]
    return errors


def _is_number(value: Any, spec_type: str) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if spec_type == "integer" else isinstance(value, (int, float))


def parameter_spec_problems(spec: ParameterSpec) -> list[tuple[str, str]]:
    """``(field, message)`` problems of one parameter's own definition."""
    numeric = spec.type in ("integer", "float")
    problems = []
    for field in ("min", "max"):
        bound = getattr(spec, field)
        if bound is not None and (not numeric or not _is_number(bound, spec.type)):
            problems.append((field, f"{field} is only for integer/float parameters and must be a {spec.type}"))
    if not problems and numeric and spec.min is not None and spec.max is not None and spec.min > spec.max:
        problems.append(("max", "max must not be smaller than min"))
    if spec.type == "select" and not spec.options:
        problems.append(("options", "select parameters need a non-empty list of options"))
    elif spec.type != "select" and spec.options is not None:
        problems.append(("options", "options are only for select parameters"))
    elif spec.options and len({repr(o) for o in spec.options}) != len(spec.options):
        problems.append(("options", "options must be unique"))
    if not problems and spec.default is not None:
        default_problem = parameter_value_problem(spec, spec.default)
        if default_problem:
            problems.append(("default", f"the default does not satisfy its own constraints: {default_problem}"))
    return problems


_EXPECTED = {"integer": "an integer", "float": "a number", "string": "a string", "boolean": "true or false"}


def parameter_value_problem(spec: ParameterSpec | dict[str, Any], value: Any) -> str | None:
    """Why ``value`` is not acceptable for a parameter (its type, min/max, options), or None.

    Also what a deployment uses to check the parameter values a user supplies.
    """
    if isinstance(spec, dict):
        spec = ParameterSpec.model_validate(spec)
    checks = {
        "integer": lambda v: _is_number(v, "integer"),
        "float": lambda v: _is_number(v, "float"),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "select": lambda v: True,
    }
    if not checks[spec.type](value):
        return f"expected {_EXPECTED[spec.type]}, got {value!r}"
    if spec.min is not None and value < spec.min:
        return f"{value} is below the minimum {spec.min}"
    if spec.max is not None and value > spec.max:
        return f"{value} is above the maximum {spec.max}"
    if spec.type == "select" and value not in (spec.options or []):
        return f"{value!r} is not one of {spec.options}"
    return None


def _reference_errors(doc: TemplateDocument, waves: list[list[str]] | None) -> Errors:
    """Jinja in component values: syntax, known names, steps only from earlier waves, declared parameters."""
    wave_of = {name: i for i, wave in enumerate(waves or []) for name in wave}
    errors: Errors = []
    for index, component in enumerate(doc.components):
        is_chart = component.type == "helm" and component.chart is not None
        where: tuple[str, ...] = ("chart", "values") if is_chart else ("values",)
        values = component.chart.values if is_chart else component.values
        references, problems = scan(values)
        for problem in problems:
            errors.append(_ref_err(component, index, where, problem.loc, problem.msg))
        for ref in references:
            msg = _reference_problem(ref.chain, component.name, doc.parameters, wave_of if waves is not None else None)
            if msg:
                errors.append(_ref_err(component, index, where, ref.loc, msg))
    return errors


def _ref_err(component: TemplateComponent, index: int, where: tuple[str, ...], path: tuple, msg: str) -> dict:
    return _err(["components", index, *where, *path], f"{dotted([component.name, *where, *path])}: {msg}")


def value_reference_errors(
    values: Any, *, owner: str, parameters: dict[str, Any], waves: list[list[str]], loc: list[str | int]
) -> Errors:
    """Jinja in a deployment's value overrides for component ``owner``: the same checks as a template's values
    (syntax, known names, steps only from earlier waves, declared parameters), each at ``[*loc, *path]``."""
    wave_of = {name: i for i, wave in enumerate(waves) for name in wave}
    references, problems = scan(values)
    errors = [_err([*loc, *problem.loc], f"{dotted([*loc, *problem.loc])}: {problem.msg}") for problem in problems]
    for ref in references:
        msg = _reference_problem(ref.chain, owner, parameters, wave_of)
        if msg:
            errors.append(_err([*loc, *ref.loc], f"{dotted([*loc, *ref.loc])}: {msg}"))
    return errors


def _reference_problem(
    chain: tuple[str, ...], owner: str, parameters: dict[str, Any], wave_of: dict[str, int] | None
) -> str | None:
    root = chain[0]
    if root == "steps":
        return _step_reference_problem(chain, owner, wave_of)
    if root in ("parameters", "params"):
        if len(chain) > 1 and chain[1] not in parameters:
            return f"'{'.'.join(chain[:2])}' is not a declared parameter"
        return None
    if root == "deployment":
        if len(chain) > 1 and chain[1] not in DEPLOYMENT_FIELDS:
            return f"'deployment.{chain[1]}' is unknown; use one of {', '.join(DEPLOYMENT_FIELDS)}"
        return None
    if root in global_names():
        return None
    return f"unknown name '{root}'; use {', '.join(ROOT_NAMES)}"


def _step_reference_problem(chain: tuple[str, ...], owner: str, wave_of: dict[str, int] | None) -> str | None:
    text = ".".join(chain)
    if len(chain) < 4 or chain[2] != "outputs":
        return f"'{text}' must have the form steps.<component>.outputs.<output>"
    step, output = chain[1], chain[3]
    if output not in STEP_OUTPUTS:
        return f"'{text}': unknown output '{output}'; steps declare {', '.join(STEP_OUTPUTS)}"
    if wave_of is None:
        return None  # the order itself is invalid and already reported
    if step not in wave_of:
        return f"'{text}': no component named '{step}'"
    if wave_of[step] >= wave_of[owner]:
        return f"'{text}': '{step}' must be deployed in an earlier wave than '{owner}'"
    return None


def resolve_parameter_values(
    parameters: dict[str, Any], supplied: dict[str, Any] | None, loc: tuple[str | int, ...] = ("parameters",)
) -> dict[str, Any]:
    """The values a deployment runs with: each declared parameter's supplied value, else its default.

    Unknown names, values that break a parameter's constraints and missing values of parameters without a
    default are refused together (ServiceValidationError, ``loc`` = ``[*loc, name]``).
    """
    supplied = supplied or {}
    unknown = [name for name in supplied if name not in parameters]
    errors: Errors = [_err([*loc, name], "not a parameter of this template") for name in unknown]
    values: dict[str, Any] = {}
    for name, raw_spec in parameters.items():
        spec = ParameterSpec.model_validate(raw_spec)
        value = supplied.get(name, spec.default)
        problem = parameter_value_problem(spec, value) if value is not None else "required (it has no default)"
        if problem:
            errors.append(_err([*loc, name], problem))
        values[name] = value
    if errors:
        raise ServiceValidationError(errors)
    return values
