"""The slice of the Kubernetes protobuf wire format that Helm sends: Secret, ConfigMap, Namespace, DeleteOptions.

client-go sends core objects as ``application/vnd.kubernetes.protobuf``: the magic ``k8s\\x00`` followed by a
``runtime.Unknown`` envelope (type meta, raw object bytes). Each message is described by a small schema
(field number -> JSON name and type) so that decoding and encoding share one description. ``bytes`` fields
become base64 strings, as in the JSON form of the same object.
"""

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
Schema = dict[int, tuple[str, Any]]

TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
OWNER_REFERENCE: Schema = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    4: ("selfLink", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}
SECRET: Schema = {
    1: ("metadata", OBJECT_META),
    2: ("data", ("map", "bytes")),
    3: ("type", "string"),
    4: ("stringData", ("map", "string")),
    5: ("immutable", "bool"),
}
CONFIG_MAP: Schema = {
    1: ("metadata", OBJECT_META),
    2: ("data", ("map", "string")),
    3: ("binaryData", ("map", "bytes")),
    4: ("immutable", "bool"),
}
NAMESPACE: Schema = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
    3: ("status", {1: ("phase", "string")}),
}
DELETE_OPTIONS: Schema = {
    1: ("gracePeriodSeconds", "int"),
    2: ("preconditions", {1: ("uid", "string"), 2: ("resourceVersion", "string")}),
    3: ("orphanDependents", "bool"),
    4: ("propagationPolicy", "string"),
    5: ("dryRun", ("repeated", "string")),
}
TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}
UNKNOWN: Schema = {
    1: ("typeMeta", TYPE_META),
    2: ("raw", "bytes"),
    3: ("contentEncoding", "string"),
    4: ("contentType", "string"),
}
KINDS: dict[str, Schema] = {
    "Secret": SECRET,
    "ConfigMap": CONFIG_MAP,
    "Namespace": NAMESPACE,
    "DeleteOptions": DELETE_OPTIONS,
}


class ProtobufError(ValueError):
    """The body is not Kubernetes protobuf this module understands."""


# ---- wire level --------------------------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Split a message into (field number, value) pairs; varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values are ten-byte two's complement varints
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


# ---- schema level: decode ----------------------------------------------------------------------------------


def _decode_scalar(kind: Any, raw: int | bytes) -> Any:
    if kind == "string":
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "bool":
        return bool(raw)
    if kind == "int":
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind == "time":
        seconds = decode_message(raw, TIME).get("seconds", 0)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return decode_message(raw, kind)


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in schema:
            continue  # managedFields and other fields Helm never reads back
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = dict(_fields(raw))
            out.setdefault(name, {})[_decode_scalar("string", entry.get(1, b""))] = _decode_scalar(
                kind[1], entry.get(2, b"")
            )
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_decode_scalar(kind[1], raw))
        else:
            out[name] = _decode_scalar(kind, raw)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00``-framed object into its JSON form (with apiVersion and kind)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    envelope = decode_message(body[len(MAGIC) :], UNKNOWN)
    type_meta = envelope.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"protobuf body of kind {kind!r} is not supported; send JSON")
    obj = decode_message(base64.b64decode(envelope.get("raw", "")), KINDS[kind])
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}


# ---- schema level: encode ----------------------------------------------------------------------------------


def _encode_scalar(number: int, kind: Any, value: Any) -> bytes:
    if kind in ("int", "bool"):
        return _key(number, 0) + _varint(int(value))
    if kind == "string":
        return _length_delimited(number, str(value).encode())
    if kind == "bytes":
        return _length_delimited(number, base64.b64decode(value))
    if kind == "time":
        seconds = int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
        return _length_delimited(number, encode_message({"seconds": seconds}, TIME))
    return _length_delimited(number, encode_message(value, kind))


def encode_message(obj: dict[str, Any], schema: Schema) -> bytes:
    out = bytearray()
    for number, (name, kind) in sorted(schema.items()):
        if name not in obj or obj[name] is None:
            continue
        value = obj[name]
        if isinstance(kind, tuple) and kind[0] == "map":
            for key in sorted(value):
                entry = _encode_scalar(1, "string", key) + _encode_scalar(2, kind[1], value[key])
                out += _length_delimited(number, entry)
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            for item in value:
                out += _encode_scalar(number, kind[1], item)
        else:
            out += _encode_scalar(number, kind, value)
    return bytes(out)


def encode(obj: dict[str, Any]) -> bytes:
    """Encode a Secret/ConfigMap/Namespace/DeleteOptions JSON object as client-go would send it."""
    kind = obj.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"cannot encode kind {kind!r} as protobuf")
    raw = encode_message(obj, KINDS[kind])
    envelope = {
        "typeMeta": {"apiVersion": obj.get("apiVersion", "v1"), "kind": kind},
        "raw": base64.b64encode(raw).decode(),
    }
    return MAGIC + encode_message(envelope, UNKNOWN)
