"""Diffs a plan shows: per-component values (YAML, unified) and rendered objects against the cluster's
(added / removed / changed, one unified diff per object). Secrets' ``data`` and ``stringData`` never appear:
each value is replaced by a marker that only says whether it changed."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

HIDDEN = "<hidden>"
HIDDEN_CHANGED = "<hidden, changed>"
SECRET_FIELDS = ("data", "stringData")


def _yaml(value: Any) -> list[str]:
    if value in (None, {}, []):
        return []
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def unified(old: Any, new: Any, *, old_name: str, new_name: str) -> str:
    """A unified diff of the two values as YAML ("" when they are equal)."""
    return "".join(difflib.unified_diff(_yaml(old), _yaml(new), fromfile=old_name, tofile=new_name))


def object_key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    return f"{obj.get('kind', '?')}/{metadata.get('name', '?')}"


def _masked(obj: dict[str, Any], other: dict[str, Any] | None) -> dict[str, Any]:
    """``obj`` with a Secret's values replaced by markers (changed compared with ``other`` or not)."""
    if obj.get("kind") != "Secret":
        return obj
    masked = dict(obj)
    for field in SECRET_FIELDS:
        data = obj.get(field)
        if not isinstance(data, dict):
            continue
        theirs = (other or {}).get(field)
        if not isinstance(theirs, dict):
            theirs = {}
        masked[field] = {
            key: HIDDEN if other is None or theirs.get(key) == value else HIDDEN_CHANGED for key, value in data.items()
        }
    return masked


def manifest_diff(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``[{object, change: added|removed|changed, diff}]`` sorted by object; unchanged objects are left out."""
    have = {object_key(obj): obj for obj in current}
    want = {object_key(obj): obj for obj in desired}
    out = []
    for key in sorted(set(have) | set(want)):
        old, new = have.get(key), want.get(key)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        diff = unified(
            _masked(old, new) if old is not None else None,
            _masked(new, old) if new is not None else None,
            old_name=f"cluster/{key}",
            new_name=f"plan/{key}",
        )
        out.append({"object": key, "change": change, "diff": diff})
    return out
