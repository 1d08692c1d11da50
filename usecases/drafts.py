"""Drafts of the template editor and the deploy wizard, parsed from their posted fields.

The template editor is not a Django ``Form``: a template has a variable list of components, each with its own
fields, and the document it produces is validated by ``usecases.services.templates`` (the same rules as the API), whose
error ``loc`` paths are mapped back onto the fields here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.http import QueryDict

from budportal.errors import ServiceValidationError, dotted
from usecases.models import UseCaseTemplate
from usecases.template_schema import DEPLOYMENT_FIELDS, STEP_OUTPUTS, load_json, load_yaml

Errors = dict[str, list[str]]


def new_key() -> str:
    """A form prefix for one component row; random so rows added with htmx never collide."""
    return secrets.token_hex(4)


def _text_to_data(text: str, loc: list[str | int]) -> Any:
    """YAML or JSON text (JSON when it starts with ``{`` or ``[``) as data; errors carry ``loc``."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        return load_json(stripped.encode(), tuple(loc))
    return load_yaml(stripped, tuple(loc))


def _dump(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


@dataclass
class ComponentDraft:
    key: str
    name: str = ""
    display_name: str = ""
    description: str = ""
    type: str = "helm"
    required: bool = True
    chart_ref: str = ""
    chart_version: str = ""
    values_text: str = ""
    default_component: str = ""
    compatible_components: list[str] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)

    @property
    def is_helm(self) -> bool:
        return self.type == "helm"

    @property
    def is_blank(self) -> bool:
        """A row added and never filled in (its type and "required" have defaults): not a component."""
        return not any(
            (
                self.name,
                self.display_name,
                self.description,
                self.chart_ref,
                self.chart_version,
                self.values_text.strip(),
                self.default_component,
                self.compatible_components,
            )
        )

    @classmethod
    def from_post(cls, data: QueryDict, key: str) -> ComponentDraft:
        get = lambda name: data.get(f"c-{key}-{name}", "").strip()  # noqa: E731
        return cls(
            key=key,
            name=get("name"),
            display_name=get("display_name"),
            description=get("description"),
            type=get("type") or "helm",
            required=data.get(f"c-{key}-required") is not None,
            chart_ref=get("chart_ref"),
            chart_version=get("chart_version"),
            values_text=data.get(f"c-{key}-values", ""),
            default_component=get("default_component"),
            compatible_components=[c for c in data.getlist(f"c-{key}-compatible_components") if c],
        )

    @classmethod
    def from_document(cls, component: dict[str, Any]) -> ComponentDraft:
        chart = component.get("chart") or {}
        values = chart.get("values") if component.get("type") == "helm" else component.get("values")
        return cls(
            key=new_key(),
            name=component.get("name", ""),
            display_name=component.get("display_name", ""),
            description=component.get("description", ""),
            type=component.get("type", "helm"),
            required=component.get("required", True),
            chart_ref=chart.get("ref", ""),
            chart_version=chart.get("version") or "",
            values_text=_dump(values),
            default_component=component.get("default_component") or "",
            compatible_components=list(component.get("compatible_components") or []),
        )

    def values_data(self, index: int) -> Any:
        where = ["chart", "values"] if self.is_helm else ["values"]
        return _text_to_data(self.values_text, ["components", index, *where]) or {}

    def to_document(self, index: int) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if self.display_name:
            doc["display_name"] = self.display_name
        if self.description:
            doc["description"] = self.description
        values = self.values_data(index)
        if self.is_helm:
            doc["chart"] = {"ref": self.chart_ref, "values": values}
            if self.chart_version:
                doc["chart"]["version"] = self.chart_version
            return doc
        if self.default_component:
            doc["default_component"] = self.default_component
        if self.compatible_components:
            doc["compatible_components"] = self.compatible_components
        if values:
            doc["values"] = values
        return doc

    def add_error(self, rest: list[str | int], msg: str) -> None:
        """File an error under the field it is about; deeper value paths go to the values editor."""
        head = rest[:1]
        if rest[:2] == ["chart", "ref"]:
            slot = "chart_ref"
        elif rest[:2] == ["chart", "version"]:
            slot = "chart_version"
        elif rest[:2] == ["chart", "values"] or head == ["values"]:
            # Not "values": a template's ``c.errors.values`` would find dict.values() when there is none.
            slot = "values_field"
            path = dotted(rest[2:] if head == ["chart"] else rest[1:])
            msg = msg if not path or path in msg else f"{path}: {msg}"
        elif head and head[0] in ("name", "type", "default_component", "compatible_components", "chart"):
            slot = str(head[0])
        else:
            slot = "general"
        self.errors.setdefault(slot, []).append(msg)


TEXT_FIELDS = ("name", "display_name", "version", "description", "category", "tags", "visibility")
DATA_FIELDS = ("parameters", "resources", "deployment_order")


@dataclass
class TemplateDraft:
    """What the editor shows: the template's fields as text, one ``ComponentDraft`` per row, and errors."""

    fields: dict[str, str] = field(default_factory=dict)
    components: list[ComponentDraft] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)

    @classmethod
    def empty(cls) -> TemplateDraft:
        fields = dict.fromkeys((*TEXT_FIELDS, *DATA_FIELDS), "")
        fields.update(version="1.0.0", visibility=UseCaseTemplate.Visibility.PRIVATE)
        return cls(fields=fields, components=[ComponentDraft(key=new_key())])

    @classmethod
    def from_template(cls, template: UseCaseTemplate) -> TemplateDraft:
        doc = template.to_document()
        fields = {name: str(doc.get(name, "") or "") for name in TEXT_FIELDS if name != "tags"}
        fields["tags"] = ", ".join(doc.get("tags") or [])
        fields["visibility"] = template.visibility
        fields.update({name: _dump(doc.get(name)) for name in DATA_FIELDS})
        return cls(fields=fields, components=[ComponentDraft.from_document(c) for c in doc["components"]])

    @classmethod
    def from_post(cls, data: QueryDict) -> TemplateDraft:
        fields = {name: data.get(name, "") for name in (*TEXT_FIELDS, *DATA_FIELDS)}
        keys = [k for k in data.getlist("component_keys") if k]
        rows = [ComponentDraft.from_post(data, key) for key in keys]
        # A blank row is dropped on every save, so it is never flagged on one save and ignored on another.
        return cls(fields=fields, components=[row for row in rows if not row.is_blank])

    @property
    def visibility(self) -> str:
        return self.fields.get("visibility") or UseCaseTemplate.Visibility.PRIVATE

    def to_document(self) -> dict[str, Any]:
        """The document the service validates; ServiceValidationError for text that does not parse."""
        problems: list[dict[str, Any]] = []
        doc: dict[str, Any] = {
            name: self.fields[name].strip()
            for name in ("name", "display_name", "version", "description", "category")
            if self.fields[name].strip()
        }
        doc["tags"] = [t.strip() for t in self.fields["tags"].split(",") if t.strip()]
        for name in DATA_FIELDS:
            doc[name] = self._collect(problems, _text_to_data, self.fields[name], [name])
        doc = {k: v for k, v in doc.items() if v is not None}
        doc["components"] = [self._collect(problems, c.to_document, i) for i, c in enumerate(self.components)]
        if problems:
            raise ServiceValidationError(problems)
        return doc

    @staticmethod
    def _collect(problems: list[dict[str, Any]], fn, *args: Any) -> Any:
        try:
            return fn(*args)
        except ServiceValidationError as exc:
            problems.extend(exc.errors)
            return None

    def attach_errors(self, errors: list[dict[str, Any]]) -> None:
        """Put each ``{"loc", "msg"}`` from the service beside the field it is about."""
        for error in errors:
            loc = list(error["loc"])
            if loc[:1] == ["body"]:
                loc = loc[1:]
            if len(loc) >= 2 and loc[0] == "components" and isinstance(loc[1], int) and loc[1] < len(self.components):
                self.components[loc[1]].add_error(loc[2:], error["msg"])
            elif loc and loc[0] in (*TEXT_FIELDS, *DATA_FIELDS):
                self.errors.setdefault(str(loc[0]), []).append(_with_path(loc[1:], error["msg"]))
            else:
                self.errors.setdefault("general", []).append(_with_path(loc, error["msg"]))

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(c.errors for c in self.components)


def _with_path(loc: list[str | int], msg: str) -> str:
    path = dotted(loc)
    return f"{path}: {msg}" if path and path not in msg else msg


def _parameter_defaults(draft: TemplateDraft) -> dict[str, Any]:
    try:
        specs = _text_to_data(draft.fields.get("parameters", ""), ["parameters"]) or {}
    except ServiceValidationError:
        return {}
    if not isinstance(specs, dict):
        return {}
    return {name: (spec or {}).get("default") for name, spec in specs.items() if isinstance(spec, dict)}


def preview_context(draft: TemplateDraft) -> dict[str, Any]:
    """What Jinja sees when the editor previews values: parameter defaults, and for every other component
    placeholders in angle brackets for the outputs only known once it is installed."""
    steps = {
        c.name: {"outputs": {out: f"<{c.name}.{out}>" for out in STEP_OUTPUTS}} for c in draft.components if c.name
    }
    parameters = _parameter_defaults(draft)
    deployment = {name: f"<deployment.{name}>" for name in DEPLOYMENT_FIELDS}
    return {"steps": steps, "parameters": parameters, "params": parameters, "deployment": deployment}


# --- deploy wizard ---------------------------------------------------------------------------------
LEAVE_OUT = "__none__"


@dataclass
class WizardRequest:
    """The deploy wizard's fields, parsed from the form into what ``deployment_create`` takes."""

    template: UseCaseTemplate
    name: str = ""
    cluster_id: str = ""
    components: dict[str, str | None] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    errors: Errors = field(default_factory=dict)

    @classmethod
    def from_post(cls, template: UseCaseTemplate, data: QueryDict) -> WizardRequest:
        wizard = cls(template=template, name=data.get("name", "").strip(), cluster_id=data.get("cluster_id", ""))
        for component in template.components:
            given = data.get(f"component-{component['name']}")
            if given == LEAVE_OUT:
                wizard.components[component["name"]] = None
            elif given and component["type"] != "helm":
                wizard.components[component["name"]] = given
        for name, spec in (template.parameters or {}).items():
            wizard._parameter(name, spec, data)
        return wizard

    def _parameter(self, name: str, spec: dict[str, Any], data: QueryDict) -> None:
        key = f"param-{name}"
        if spec["type"] == "boolean":
            self.parameters[name] = data.get(key) is not None
            return
        raw = data.get(key, "").strip()
        self.raw[name] = raw
        if raw == "":
            return  # the template's default applies
        try:
            self.parameters[name] = _typed(spec, raw)
        except ValueError:
            self.errors.setdefault(f"parameters.{name}", []).append(
                f"expected {'an integer' if spec['type'] == 'integer' else 'a number'}, got {raw!r}"
            )

    def attach_errors(self, errors: list[dict[str, Any]]) -> None:
        for error in errors:
            loc = [str(part) for part in error["loc"][:2]]
            key = ".".join(loc) if loc[:1] in (["components"], ["parameters"]) else (loc[0] if loc else "general")
            self.errors.setdefault(key, []).append(error["msg"])


def _typed(spec: dict[str, Any], raw: str) -> Any:
    if spec["type"] == "integer":
        return int(raw)
    if spec["type"] == "float":
        return float(raw)
    if spec["type"] == "select":
        # Options may be numbers; the form sends text, so pick the option whose text matches.
        return next((o for o in spec.get("options") or [] if str(o) == raw), raw)
    return raw
