from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema

from usecases.models import UseCaseTemplate
from usecases.template_schema import TemplateDocument


class TemplateOut(Schema):
    id: int
    name: str
    display_name: str
    version: str
    description: str
    category: str
    tags: list[str]
    components: list[dict[str, Any]]
    parameters: dict[str, Any]
    resources: dict[str, Any]
    deployment_order: list[Any]
    waves: list[list[str]]
    source: str
    visibility: str
    owner: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_owner(obj: UseCaseTemplate) -> str | None:
        return obj.owner.get_username() if obj.owner is not None else None


class TemplateFilters(Schema):
    category: str | None = None
    tag: str | None = None
    source: str | None = None
    q: str | None = None


class TemplateSyncOut(Schema):
    created: list[str]
    updated: list[str]
    deleted: list[str]
    skipped: list[str]
    errors: dict[str, list[str]]


class ValidationErrorOut(Schema):
    loc: list[str | int]
    msg: str


class TemplateValidationOut(Schema):
    valid: bool
    errors: list[ValidationErrorOut]
    waves: list[list[str]] | None = None


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(v, defs) for v in schema]
    return schema


def template_document_openapi() -> dict[str, Any]:
    """The request body of POST/PUT/validate for the OpenAPI docs: the template document, as JSON or YAML.

    The body is parsed by the endpoint itself (so YAML works and errors carry document paths), hence this
    hand-made description instead of a ninja body parameter.
    """
    schema = TemplateDocument.model_json_schema()
    body = _inline_refs(schema, schema.get("$defs", {}))
    body["properties"]["visibility"] = {"type": "string", "enum": ["private", "public"], "default": "private"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body},
                "application/yaml": {"schema": {"type": "string", "description": "the same document as YAML"}},
            },
        }
    }
