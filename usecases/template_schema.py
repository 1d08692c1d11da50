"""The shape of a use-case template document, and safe parsing of YAML/JSON text into one.

A template is authored as YAML (catalog files, the admin) or JSON (the API); both become the same plain
document, checked here for size and nesting before pydantic checks its shape. The rules that need more than
one field (waves, Jinja references, the component catalog) live in ``usecases.validation.templates``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from budportal.errors import ServiceValidationError

COMPONENT_TYPES = ("model", "llm", "embedder", "reranker", "vector_db", "memory_store", "helm")
PARAMETER_TYPES = ("integer", "float", "string", "boolean", "select")
# What a deployment step reports when it finishes; ``{{ steps.X.outputs.Y }}`` may name only these.
STEP_OUTPUTS = ("endpoint_url", "access_url", "namespace", "release_name", "services", "job_id", "status")
DEPLOYMENT_FIELDS = ("id", "name", "namespace")

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 32
# Bounds on the document once YAML aliases are expanded (a "billion laughs" is small as text, huge as JSON).
MAX_NODES = 100_000
MAX_EXPANDED_CHARS = 4 * 1024 * 1024
# Python's own limit on int <-> text conversion; a larger int (from hex, or YAML's base 60) could be parsed
# but never written out again (JSON, YAML, Jinja), so it is refused up front.
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS


class _Strict(BaseModel):
    # Unknown keys are refused so a typo (``dependson``) is reported instead of silently ignored; numbers
    # where text is expected (``version: 1.0``) are accepted as text.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class HelmChart(_Strict):
    ref: str = Field(description="oci://host/path, https://host/path or charts/<name>")
    version: str | None = Field(None, description="Chart version or constraint")
    values: dict[str, Any] = Field(default_factory=dict, description="Helm values; strings may use Jinja")


class ComponentAccess(_Strict):
    """The Service port the portal publishes at an access URL (an Ingress or HTTPRoute, per the cluster)."""

    port: int = Field(ge=1, le=65535, description="The component's Service port")
    path: str = Field("/", pattern=r"^/[A-Za-z0-9._~/-]{0,200}$", description="URL path prefix, e.g. / or /ui")
    kind: Literal["ui", "api"] = "ui"


class HelmOptions(_Strict):
    timeout_seconds: int | None = Field(None, ge=30, le=86_400, description="Helm --wait timeout")
    create_namespace: bool = True
    delete_on_failure: bool = Field(False, description="A failed first install also removes its namespace")


class TemplateComponent(_Strict):
    name: str = Field(description="Step id: lowercase letters, digits and underscores")
    display_name: str = ""
    description: str = ""
    type: Literal["model", "llm", "embedder", "reranker", "vector_db", "memory_store", "helm"]
    required: bool = True
    default_component: str | None = Field(None, description="Catalog component used when none is selected")
    compatible_components: list[str] = Field(default_factory=list)
    chart: HelmChart | None = Field(None, description="Required for type helm, refused otherwise")
    values: dict[str, Any] = Field(
        default_factory=dict, description="Non-helm types: values merged over the catalog component's values"
    )
    access: ComponentAccess | None = Field(None, description="Publish this port at an access URL")
    helm: HelmOptions | None = Field(None, description="Helm options: wait timeout, namespace handling")


class ParameterSpec(_Strict):
    type: Literal["integer", "float", "string", "boolean", "select"]
    default: Any = None
    min: Any = None
    max: Any = None
    options: list[Any] | None = None
    description: str = ""
    display_name: str = ""


class ResourceAmounts(_Strict):
    cpu: str | None = Field(None, description="Cores, e.g. 4 or 500m")
    memory: str | None = None
    gpu: int | None = None


class TemplateResources(_Strict):
    minimum: ResourceAmounts | None = None
    recommended: ResourceAmounts | None = None


class TemplateDocument(_Strict):
    name: str
    display_name: str
    version: str = "1.0.0"
    description: str = ""
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    components: list[TemplateComponent] = Field(min_length=1, max_length=100)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    resources: TemplateResources = Field(default_factory=TemplateResources)
    deployment_order: list[Any] | None = Field(
        None, description="Names or lists of names (parallel waves); omitted = the components' order"
    )


def pydantic_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"loc", "msg"}`` items with plain paths like ``["components", 2, "chart", "ref"]``."""
    return [{"loc": [*prefix, *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_url=False)]


def parse_document(data: Any) -> TemplateDocument:
    """The document's shape as a model; raises ServiceValidationError listing every problem."""
    check_limits(data)
    if not isinstance(data, dict):
        raise ServiceValidationError.at([], "a template must be a mapping (name, display_name, components, ...)")
    try:
        return TemplateDocument.model_validate(data)
    except ValidationError as exc:
        raise ServiceValidationError(pydantic_errors(exc)) from None


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text: JSON cannot store a ``date`` and authors rarely mean one."""


_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    # Python refuses to turn more than 4300 digits into an int (ValueError, CVE-2020-10735); say where it was.
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"the integer is longer than {MAX_INT_DIGITS} digits", node.start_mark
        ) from None


_TemplateLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str | bytes, loc: tuple[str | int, ...] = ()) -> Any:
    """Parse YAML text of bounded size; syntax errors become a ServiceValidationError with line and column."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ServiceValidationError.at(loc, f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        raise ServiceValidationError.at(loc, "the document is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ServiceValidationError.at(loc, f"invalid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:  # PyYAML's parser recurses per level: "[[[[…" thousands deep overflows the stack
        raise ServiceValidationError.at(loc, f"the document is nested deeper than {MAX_DEPTH} levels") from None
    check_limits(data, loc)
    return data


def load_json(raw: bytes, loc: tuple[str | int, ...] = ()) -> Any:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ServiceValidationError.at(loc, f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:
        raise ServiceValidationError.at(loc, f"invalid JSON: {exc}") from None
    check_limits(data, loc)
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def check_limits(data: Any, loc: tuple[str | int, ...] = ()) -> None:
    """Refuse documents nested deeper than MAX_DEPTH, too large once aliases are expanded, or holding values
    JSON cannot store (binary, sets, NaN, non-text keys). Iterative and bounded, so a cycle or an alias bomb
    stops at the first limit instead of exhausting memory."""
    nodes = chars = 0
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise ServiceValidationError.at([*loc, *path], f"the document is nested deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise ServiceValidationError.at(loc, f"the document has more than {MAX_NODES} values (after aliases)")
        chars += _scalar_size(node, [*loc, *path])
        if chars > MAX_EXPANDED_CHARS:
            raise ServiceValidationError.at(loc, "the document is too large once YAML aliases are expanded")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ServiceValidationError.at([*loc, *path], f"keys must be text, got {key!r}")
                chars += len(key)
                stack.append((child, depth + 1, (*path, key)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1, (*path, i)) for i, child in enumerate(node))


def _scalar_size(node: Any, loc: list[str | int]) -> int:
    if isinstance(node, str):
        return len(node)
    if isinstance(node, float) and not math.isfinite(node):
        raise ServiceValidationError.at(loc, "numbers must be finite (no .nan or .inf)")
    if isinstance(node, int) and abs(node) >= _INT_LIMIT:
        raise ServiceValidationError.at(loc, f"the integer is longer than {MAX_INT_DIGITS} digits")
    if node is None or isinstance(node, (bool, int, float, dict, list)):
        return 8
    raise ServiceValidationError.at(loc, f"unsupported value of type {type(node).__name__}")
