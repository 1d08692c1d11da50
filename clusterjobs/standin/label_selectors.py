"""Label and field selectors, as in ``?labelSelector=app=web,tier!=db,env in (a,b),!legacy``."""

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError

Predicate = Callable[[dict[str, Any]], bool]
_EQUALITY = re.compile(r"^(?P<key>[^!=\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,\s]*)$")
_SET = re.compile(r"^(?P<key>[^!=\s]+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)$")
_EXISTS = re.compile(r"^(?P<neg>!?)(?P<key>[A-Za-z0-9][\w./-]*)$")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` value lists."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def _requirement(text: str) -> Callable[[dict[str, str]], bool]:
    if match := _EQUALITY.match(text):
        key, op, value = match["key"], match["op"], match["value"]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _SET.match(text):
        key, values = match["key"], {v.strip() for v in match["values"].split(",") if v.strip()}
        if match["op"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EXISTS.match(text):
        key, negate = match["key"], bool(match["neg"])
        return lambda labels: (key in labels) != negate
    raise ApiError(400, "BadRequest", f"unable to parse requirement: {text!r}")


def label_selector(text: str | None) -> Predicate:
    """A predicate on an object's ``metadata.labels``; an empty selector matches everything."""
    requirements = [_requirement(part) for part in _split(text or "")]
    return lambda obj: all(req((obj.get("metadata") or {}).get("labels") or {}) for req in requirements)


def _lookup(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def field_selector(text: str | None) -> Predicate:
    """``metadata.name=x``, ``metadata.namespace!=y``, ``status.phase==Running`` and so on."""
    checks = []
    for part in _split(text or ""):
        match = _EQUALITY.match(part)
        if not match:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        checks.append((match["key"], match["op"] != "!=", match["value"]))
    return lambda obj: all((_lookup(obj, key) == value) == equal for key, equal, value in checks)


def label_selector_from_spec(selector: dict[str, Any] | None) -> Predicate:
    """A Deployment-style ``spec.selector`` (matchLabels / matchExpressions) as a predicate."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(expr.get("values") or [])
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }.get(op, key)
        )
    return label_selector(",".join(parts))
