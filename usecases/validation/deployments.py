"""What ``POST /api/deployments`` must satisfy: a visible template, the owner's cluster, a choice for every
required slot among its compatible components, known parameters of the right type and range, and no
reference to a component that is left out. Every problem is collected with its ``loc`` (``["components",
"llm"]``, ``["parameters", "chunk_size"]``) and raised together as one ServiceValidationError (→ 422).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from budportal.errors import ServiceValidationError
from clusterjobs.crypto import is_sealed, mask_tree, seal
from clusterjobs.models import Cluster
from clusterjobs.redact import redact
from clusterjobs.selectors import cluster_list
from clusterjobs.validators import bundled_chart_dir, find_blocked_values
from pipelines.actions.http import check_url
from pipelines.params import depth_errors, is_template
from usecases.component_catalog import deep_merge
from usecases.dag import Inputs, effective_chart, included_waves, referenced_steps, template_from_snapshot
from usecases.models import UseCaseTemplate
from usecases.models.deployments import UseCaseDeployment
from usecases.selectors.templates import template_resolve
from usecases.validation.templates import parameter_value_problem, value_reference_errors

Errors = list[dict[str, Any]]
# Release names are "<deployment>-<component>" within Helm's 53 characters, so deployment names stay short.
DEPLOYMENT_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,38}[a-z0-9])?$")
MISSING = object()


@dataclass
class CleanRequest:
    template: UseCaseTemplate
    cluster: Cluster
    selections: dict[str, str]  # included component → catalog choice ("" for helm)
    parameters: dict[str, Any]
    errors: Errors = field(default_factory=list)


def _err(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg}


def name_errors(owner, name: str) -> Errors:
    if not DEPLOYMENT_NAME.match(name or ""):
        return [_err(["name"], "must be a lowercase DNS label: a-z, 0-9 and '-', at most 40 characters")]
    if UseCaseDeployment.objects.filter(owner=owner, name=name).exists():
        return [_err(["name"], f"you already have a deployment named '{name}'")]
    return []


def _template(owner, name: str, errors: Errors) -> UseCaseTemplate | None:
    template = template_resolve(user=owner, name=name)  # the same name rule as the templates API
    if template is None:
        errors.append(_err(["template"], f"no template named '{name}'"))
    return template


def _cluster(owner, cluster_id: Any, errors: Errors) -> Cluster | None:
    cluster = cluster_list(user=owner).filter(pk=cluster_id).first()
    if cluster is None:
        errors.append(_err(["cluster_id"], f"no cluster {cluster_id} of yours"))
    return cluster


def _choice(component: dict[str, Any], given: Any, errors: Errors) -> str | None:
    """The catalog choice for one slot ("" for a helm chart), or None when the slot is left out."""
    loc: list[str | int] = ["components", component["name"]]
    required = component.get("required", True)
    if given is None:  # an explicit null leaves an optional slot out
        if required:
            errors.append(_err(loc, "this component is required and cannot be left out"))
        return None
    if component["type"] == "helm":
        if given is not MISSING:
            errors.append(
                _err(
                    loc,
                    "a helm component installs its chart; leave it out of 'components' "
                    "(or null to skip it when it is optional)",
                )
            )
        return ""
    choice = component.get("default_component") if given is MISSING else given
    allowed = component.get("compatible_components") or [c for c in [component.get("default_component")] if c]
    if choice is None:
        if required:
            errors.append(_err(loc, f"choose one of: {', '.join(allowed)}"))
        return None
    if choice not in allowed:
        errors.append(_err(loc, f"'{choice}' is not compatible with this slot; choose one of: {', '.join(allowed)}"))
        return None
    return choice


def _selections(template: UseCaseTemplate, components: dict[str, Any], errors: Errors) -> dict[str, str]:
    names = {c["name"] for c in template.components}
    errors += [
        _err(["components", slot], f"unknown component '{slot}'; the template has: {', '.join(sorted(names))}")
        for slot in components
        if slot not in names
    ]
    selections = {}
    for component in template.components:
        choice = _choice(component, components.get(component["name"], MISSING), errors)
        if choice is not None:
            selections[component["name"]] = choice
    return selections


def _parameters(template: UseCaseTemplate, given: dict[str, Any], errors: Errors) -> dict[str, Any]:
    specs = template.parameters or {}
    errors += [_err(["parameters", name], f"unknown parameter '{name}'") for name in given if name not in specs]
    values = {}
    for name, spec in specs.items():
        value = given.get(name, spec.get("default"))
        if value is None:
            errors.append(_err(["parameters", name], "required: the template gives no default"))
            continue
        problem = parameter_value_problem(spec, value)
        if problem:
            errors.append(_err(["parameters", name], problem))
        values[name] = value
    return values


def _reference_errors(template: UseCaseTemplate, selections: dict[str, str]) -> Errors:
    errors = []
    for name in selections:
        for step in sorted(referenced_steps(template.component(name)) - set(selections)):
            errors.append(_err(["components", name], f"its values use steps.{step}.outputs, but '{step}' is left out"))
    return errors


def _blocked_errors(template: UseCaseTemplate, selections: dict[str, str]) -> Errors:
    errors = []
    for name, selected in selections.items():
        values = effective_chart(template.component(name), selected)["values"]
        errors += find_blocked_values(values, ("components", name, "values"))
    return errors


def clean_request(
    *,
    owner,
    name: str,
    template: str,
    cluster_id: Any,
    components: dict[str, Any],
    parameters: dict[str, Any],
    notify_webhook_url: str = "",
) -> CleanRequest:
    """The checked request, or ServiceValidationError naming every field that is wrong."""
    errors = name_errors(owner, name) + depth_errors(parameters, ("parameters",))
    the_template = _template(owner, template, errors)
    cluster = _cluster(owner, cluster_id, errors)
    if notify_webhook_url and (problem := check_url(notify_webhook_url)):
        errors.append(_err(["notify_webhook_url"], problem))
    selections, values = {}, {}
    if the_template is not None:
        selections = _selections(the_template, components, errors)
        values = _parameters(the_template, parameters, errors)
        if not errors:
            errors += _reference_errors(the_template, selections) + _blocked_errors(the_template, selections)
    if errors:
        raise ServiceValidationError(errors)
    return CleanRequest(template=the_template, cluster=cluster, selections=selections, parameters=values)


# --- changing a deployment (PATCH) -------------------------------------------------------------------
@lru_cache(maxsize=16)
def _chart_files(directory: Path, mtime: float) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        schema = json.loads((directory / "values.schema.json").read_text())
        defaults = yaml.safe_load((directory / "values.yaml").read_text()) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(schema, dict) or not isinstance(defaults, dict):
        return None
    return schema, defaults


def chart_values_schema(ref: str | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A bundled chart's ``values.schema.json`` and its default ``values.yaml`` (Helm validates the defaults
    merged with the given values); remote charts are not fetched just to validate: Helm checks the schema
    itself when it installs, and the failure is the component's error."""
    directory = bundled_chart_dir(ref) if ref else None
    schema = directory / "values.schema.json" if directory else None
    if directory is None or schema is None or not schema.is_file():
        return None
    return _chart_files(directory, schema.stat().st_mtime)


def _at(instance: Any, path: list[Any]) -> Any:
    for key in path:
        instance = instance[key]
    return instance


def schema_errors(values: dict[str, Any], schema: dict[str, Any], loc: list[str | int]) -> Errors:
    """Each place the merged values break the chart's schema; a Jinja string is rendered only when the step
    runs, so a type error on one is not reported here."""
    errors = []
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if is_template(str(_at(values, path))) if path else False:
            continue
        errors.append(_err([*loc, *path], f"{'.'.join(map(str, path)) or '(values)'}: {error.message}"))
    return errors


def _override_errors(inputs: Inputs, name: str, override: Any) -> Errors:
    loc: list[str | int] = ["values", name]
    if not isinstance(override, dict):
        return [_err(loc, "must be a mapping of Helm values")]
    template = template_from_snapshot(inputs.template_snapshot)
    errors = depth_errors(override, tuple(loc)) + find_blocked_values(override, tuple(loc))
    errors += value_reference_errors(
        override,
        owner=name,
        parameters=template.parameters or {},
        waves=included_waves(template, set(inputs.selections)),
        loc=loc,
    )
    if errors:
        return errors
    chart = effective_chart(template.component(name), inputs.selections[name], override)
    found = chart_values_schema(chart["ref"])
    if found is None:
        return []
    schema, defaults = found
    return schema_errors(deep_merge(defaults, chart["values"]), schema, loc)


def restore_masked(new: Any, old: Any) -> Any:
    """``new`` with each ``<secret #…>`` mask that stands for the secret at the same place in ``old`` put back
    as that sealed secret: values read from the API or the edit form and sent back keep their secrets."""
    if isinstance(new, dict):
        return {k: restore_masked(v, old.get(k) if isinstance(old, dict) else None) for k, v in new.items()}
    if isinstance(new, list):
        return [
            restore_masked(v, old[i] if isinstance(old, list) and i < len(old) else None) for i, v in enumerate(new)
        ]
    if isinstance(new, str) and is_sealed(old) and new == mask_tree(old):
        return old
    return new


def _nested(path: str, value: Any) -> dict[str, Any]:
    keys = path.split(".")
    out: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        out = {key: out}
    return out


def _secret_errors(secrets: dict[str, Any], selections: dict[str, str]) -> Errors:
    errors = []
    for name, paths in secrets.items():
        if name not in selections:
            errors.append(_err(["secret_values", name], f"'{name}' is not a component of this deployment"))
        elif not isinstance(paths, dict):
            errors.append(_err(["secret_values", name], "must map dotted value paths to secret values"))
        else:
            errors += [
                _err(["secret_values", name, path], "a secret must be a string, a number or a boolean")
                for path, value in paths.items()
                if not isinstance(value, (str, int, float, bool)) or not all(path.split("."))
            ]
    return errors


def _with_secrets(overrides: dict[str, Any], secrets: dict[str, Any], *, sealed: bool) -> dict[str, Any]:
    """The overrides with each component's secrets merged in at their dotted paths (sealed, or as given for
    validation)."""
    out = dict(overrides)
    for name, paths in secrets.items():
        for path, value in paths.items():
            out[name] = deep_merge(out.get(name) or {}, _nested(path, seal(value) if sealed else value))
    return out


def clean_update(
    *,
    current: Inputs,
    snapshot: dict[str, Any] | None,
    components: dict[str, Any] | None,
    parameters: dict[str, Any] | None,
    values: dict[str, Any] | None,
    secrets: dict[str, Any] | None = None,
) -> Inputs:
    """New inputs: ``current`` with the given parameters (merged), slot choices and per-component value
    overrides (a component's mapping replaces its overrides; null removes them), and optionally a newer
    template snapshot. ServiceValidationError naming every wrong field; nothing is written."""
    errors: Errors = depth_errors(parameters or {}, ("parameters",))
    template = template_from_snapshot(snapshot or current.template_snapshot)
    selections = dict(current.selections)
    for slot, choice in (components or {}).items():
        if slot not in selections:
            errors.append(_err(["components", slot], f"'{slot}' is not a component of this deployment"))
            continue
        chosen = _choice(template.component(slot), choice, errors)
        if chosen is None and choice is None and not errors:
            errors.append(_err(["components", slot], "adding or removing components of a deployment is not supported"))
        elif chosen is not None:
            selections[slot] = chosen
    merged = _parameters(template, {**current.parameters, **(parameters or {})}, errors)
    overrides = dict(current.value_overrides)
    for name, override in (values or {}).items():
        if name not in selections:
            errors.append(_err(["values", name], f"'{name}' is not a component of this deployment"))
        elif override is None:
            overrides.pop(name, None)
        else:
            overrides[name] = restore_masked(override, current.value_overrides.get(name))
    secrets = secrets or {}
    errors += _secret_errors(secrets, selections)
    plain = Inputs(
        template_snapshot=snapshot or current.template_snapshot,
        parameters=merged,
        selections=selections,
        value_overrides=_with_secrets(overrides, secrets, sealed=False) if not errors else overrides,
    )
    if not errors:
        changed = {name for name, override in (values or {}).items() if override is not None} | set(secrets)
        for name in sorted(changed):
            errors += _override_errors(plain, name, plain.value_overrides[name])
        errors += _reference_errors(template, selections) + _blocked_errors(template, selections)
    if errors:
        hidden = [str(value) for paths in secrets.values() if isinstance(paths, dict) for value in paths.values()]
        raise ServiceValidationError([{**e, "msg": redact(e["msg"], hidden)} for e in errors])
    # Only now are the secrets sealed: everything stored from here on holds the ciphertext.
    return Inputs(
        template_snapshot=plain.template_snapshot,
        parameters=merged,
        selections=selections,
        value_overrides=_with_secrets(overrides, secrets, sealed=True),
    )


def with_helm_options(document: dict[str, Any], helm: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The template document with a deployment's per-component Helm options merged over the template's;
    422 at ``helm.<name>`` for a component the template does not have."""
    names = {c["name"] for c in document.get("components") or []}
    unknown = [name for name in helm if name not in names]
    if unknown:
        raise ServiceValidationError([_err(["helm", name], "the template has no such component") for name in unknown])
    for component in document.get("components") or []:
        if component["name"] in helm:
            component["helm"] = {**(component.get("helm") or {}), **helm[component["name"]]}
    return document
