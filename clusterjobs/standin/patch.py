"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch, server-side apply.

Strategic merge is JSON merge plus merge-by-key for the lists Kubernetes declares a patch merge key for
(containers by name, ports by port, ...) and the ``$patch`` / ``$setElementOrder`` / ``$retainKeys``
directives Helm's three-way patches carry. Server-side apply is approximated per field manager: the applied
configuration is merged into the live object, and fields the same manager applied last time but no longer
applies are removed (what Helm 4 relies on when an upgrade drops a value). Conflicts between managers are not
modelled (the stand-in is a contract fake).
"""

import copy
from typing import Any

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}


class PatchError(ValueError):
    """The patch cannot be applied (a failed ``test``, a missing path, a malformed body)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- strategic merge ---------------------------------------------------------------------------------------


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def _merge_list(field: str, live: Any, patch: list[Any], order: list[Any] | None) -> list[Any]:
    key = _merge_key(field, patch + (order or []))
    if key is None or not isinstance(live, list) or not all(isinstance(i, dict) for i in patch):
        return [i for i in copy.deepcopy(patch) if not (isinstance(i, dict) and i.get("$patch") == "delete")]
    merged = {item.get(key): item for item in live if isinstance(item, dict)}
    for item in patch:
        name = item.get(key)
        if item.get("$patch") == "delete":
            merged.pop(name, None)
        elif item.get("$patch") == "replace":
            merged[name] = {k: v for k, v in item.items() if k != "$patch"}
        else:
            merged[name] = strategic_merge(merged.get(name), item)
    if order:
        rank = {entry.get(key): i for i, entry in enumerate(order) if isinstance(entry, dict)}
        return sorted(merged.values(), key=lambda item: rank.get(item.get(key), len(rank)))
    return list(merged.values())


def _apply_directive_keys(result: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field, []) if v not in value]
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"])
        for key in [k for k in result if k not in keep]:
            del result[key]


def strategic_merge(live: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch, for the built-in types the stand-in serves."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(live) if isinstance(live, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, patch.get(f"$setElementOrder/{key}"))
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    _apply_directive_keys(result, patch)
    return result


# ---- server-side apply ------------------------------------------------------------------------------------


def _list_removals(field: str, old: list[Any], new: list[Any]) -> list[dict[str, Any]]:
    key = _merge_key(field, old + new)
    if key is None or not all(isinstance(i, dict) for i in old + new):
        return []
    applied = {item.get(key): item for item in new}
    out: list[dict[str, Any]] = []
    for item in old:
        name = item.get(key)
        if name not in applied:
            out.append({key: name, "$patch": "delete"})
        elif nested := removals(item, applied[name]):
            out.append({key: name, **nested})
    return out


def removals(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A strategic patch deleting what ``old`` set and ``new`` no longer sets."""
    out: dict[str, Any] = {}
    for key, value in old.items():
        if key not in new:
            out[key] = None
        elif isinstance(value, dict) and isinstance(new[key], dict):
            if nested := removals(value, new[key]):
                out[key] = nested
        elif isinstance(value, list) and isinstance(new[key], list):
            if items := _list_removals(key, value, new[key]):
                out[key] = items
    return out


def server_side_apply(live: dict[str, Any], applied: dict[str, Any], last_applied: dict[str, Any] | None) -> Any:
    """Merge ``applied`` into ``live``, dropping fields this manager applied before and has now left out."""
    return strategic_merge(strategic_merge(live, removals(last_applied or {}, applied)), applied)


# ---- JSON patch --------------------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"path not found: /{'/'.join(parts)}") from exc
    return node, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node, last = _parent(doc, parts)
    try:
        return node[int(last)] if isinstance(node, list) else node[last]
    except (KeyError, IndexError, ValueError) as exc:
        raise PatchError(f"path not found: {path}") from exc


def _remove(doc: Any, path: str) -> Any:
    value = _get(doc, path)
    node, last = _parent(doc, _pointer(path))
    if isinstance(node, list):
        node.pop(int(last))
    else:
        del node[last]
    return value


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    node, last = _parent(doc, parts)
    if isinstance(node, list):
        node.insert(len(node) if last == "-" else int(last), copy.deepcopy(value))
    else:
        node[last] = copy.deepcopy(value)
    return doc


def json_patch(doc: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 add / remove / replace / move / copy / test."""
    doc = copy.deepcopy(doc)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, op.get("value"))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            if _pointer(path):
                _remove(doc, path)  # a missing path fails here, as RFC 6902 requires
            doc = _add(doc, path, op.get("value"))
        elif kind == "move":
            doc = _add(doc, path, _remove(doc, op["from"]))
        elif kind == "copy":
            doc = _add(doc, path, _get(doc, op["from"]))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"test failed at {path}")
        else:
            raise PatchError(f"unknown JSON patch op {kind!r}")
    return doc
