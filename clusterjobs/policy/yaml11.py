"""Read YAML the way the Kubernetes API server does (``sigs.k8s.io/yaml`` on go-yaml v2: YAML 1.1 scalars).

PyYAML's ``SafeLoader`` is YAML 1.1 too, but it does not take ``y``/``n`` as booleans and it reads
``1:30`` as a sexagesimal int; go-yaml v2 does the first and not the second. Any difference is a way past a
check, so this loader copies go-yaml v2's scalar table. A request body with a duplicate key is refused
outright (which one wins is exactly the kind of question two parsers answer differently); ``helm template``
output is read as Helm reads it, the last one winning, since that is what Helm will send.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

TRUE_WORDS = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
FALSE_WORDS = frozenset({"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
_BOOL = re.compile("^(?:" + "|".join(sorted(TRUE_WORDS | FALSE_WORDS)) + ")$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
# strconv.ParseInt(s, 0, 64) after go-yaml removed every underscore.
_INT = re.compile(r"^[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_OCTAL = re.compile(r"^[-+]?0[0-7]+$")


class YAMLBodyError(ValueError):
    """The YAML cannot be read unambiguously."""


class GoYamlLoader(yaml.SafeLoader):
    # Not SafeLoader's table: add_implicit_resolver would copy it, and we want go-yaml's only.
    yaml_implicit_resolvers: dict[str, Any] = {}  # noqa: RUF012
    refuse_duplicate_keys: ClassVar[bool] = True

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:
        value = self.construct_scalar(node)
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise YAMLBodyError(f"{value!r} is not a boolean")

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node)).replace("_", "")
        if _OCTAL.match(text):
            return int(text, 8)
        return int(text, 0)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode) and self.refuse_duplicate_keys:
            self.flatten_mapping(node)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool, type(None))):
                    raise YAMLBodyError("a mapping key must be a scalar")
                if key in seen:
                    raise YAMLBodyError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("yYnNtTfFoO"))
GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))
GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])
GoYamlLoader.add_constructor("tag:yaml.org,2002:bool", GoYamlLoader.construct_yaml_bool)
GoYamlLoader.add_constructor("tag:yaml.org,2002:int", GoYamlLoader.construct_yaml_int)


class HelmYamlLoader(GoYamlLoader):
    """As Helm reads its rendered manifests: go-yaml v2 scalars, the last of duplicate keys wins."""

    refuse_duplicate_keys: ClassVar[bool] = False


def load(text: str | bytes) -> Any:
    """One YAML document, read as the API server reads it; ``YAMLBodyError`` when that is in doubt."""
    try:
        return yaml.load(text, Loader=GoYamlLoader)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise YAMLBodyError(f"the YAML cannot be read: {exc}") from None


def load_all(text: str | bytes) -> list[Any]:
    """Every document of ``helm template`` output, read as Helm reads it before sending it."""
    try:
        return list(yaml.load_all(text, Loader=HelmYamlLoader))
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise YAMLBodyError(f"the YAML cannot be read: {exc}") from None
