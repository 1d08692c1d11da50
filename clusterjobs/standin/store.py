"""The object store: resourceVersion, uid and generation bookkeeping, selectors, cascading delete and watch.

Stored dicts are never mutated after they are stored (every write stores a fresh copy), so watch events can
share them; callers always receive deep copies.
"""

import base64
import copy
import ipaddress
import itertools
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .discovery import Resource, resource_for_kind
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .label_selectors import Predicate

HISTORY = 20_000  # watch events kept for watches that resume from a resourceVersion
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
HEARTBEAT_SECONDS = 1.0
Key = tuple[str, str, str]  # (resource key, namespace or "", name)


@dataclass(frozen=True)
class Event:
    rv: int
    type: str
    resource_key: str
    namespace: str
    obj: dict[str, Any]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that bumps metadata.generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def owner_uids(obj: dict[str, Any]) -> set[str]:
    return {ref.get("uid") for ref in obj.get("metadata", {}).get("ownerReferences") or []}


class Store:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._objects: dict[Key, dict[str, Any]] = {}
        self._events: deque[Event] = deque(maxlen=HISTORY)
        self._rv = 0
        self._ips = itertools.count(10)
        self._applied: dict[tuple[str, str], dict[str, Any]] = {}  # (uid, field manager) -> last applied config
        self.closed = False
        for name in SYSTEM_NAMESPACES:
            self.create(resource_for_kind("Namespace"), "", {"metadata": {"name": name}})

    # ---- reads -------------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def find(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        with self._cond:
            obj = self._objects.get(self._key(resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        obj = self.find(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def list_objects(self, resource: Resource, namespace: str, match: Predicate) -> tuple[list[dict[str, Any]], int]:
        with self._cond:
            items = [
                copy.deepcopy(o)
                for k, o in self._objects.items()
                if self._in_scope(k, resource, namespace) and match(o)
            ]
            return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])), self._rv

    # ---- writes ------------------------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        self._check_namespace(resource, namespace, meta)
        meta["name"] = meta.get("name") or self._generated_name(resource, meta)
        with self._cond:
            key = self._key(resource, namespace, meta["name"])
            if key in self._objects:
                raise already_exists(resource, meta["name"])
            if resource.namespaced and ("namespaces", "", namespace) not in self._objects:
                raise not_found(resource_for_kind("Namespace"), namespace)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
            meta.pop("resourceVersion", None)
            self._default(resource, obj, None)
            return obj if dry_run else self._put(resource, key, obj, "ADDED")

    def replace(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        status_only: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT semantics: optimistic concurrency on a given resourceVersion; status kept unless ``status_only``."""
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the URL's ({name})")
        self._check_namespace(resource, namespace, meta)
        with self._cond:
            key = self._key(resource, namespace, name)
            live = self._objects.get(key)
            if live is None:
                raise not_found(resource, name)
            if meta.get("resourceVersion") not in (None, "", live["metadata"]["resourceVersion"]):
                raise conflict(resource, name)
            obj = self._merge_write(resource, live, obj, status_only)
            if obj == live:
                return copy.deepcopy(live)  # a no-op write keeps its resourceVersion, as the real server does
            return obj if dry_run else self._put(resource, key, obj, "MODIFIED")

    def write_status(self, resource: Resource, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Controllers' status writes; skipped when nothing changed so that watches stay quiet."""
        with self._cond:
            live = self._objects.get(self._key(resource, namespace, name))
            if live is not None and live.get("status") != status:
                self.replace(resource, namespace, name, {**live, "status": status}, status_only=True)

    def delete(
        self, resource: Resource, namespace: str, name: str, *, orphan: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        with self._cond:
            key = self._key(resource, namespace, name)
            live = self._objects.get(key)
            if live is None:
                raise not_found(resource, name)
            if dry_run:
                return copy.deepcopy(live)
            if resource.kind == "Namespace":
                self._delete_namespace_contents(name)
            gone = self._remove(resource, key)
            if not orphan:
                self._delete_dependents(gone["metadata"]["uid"])
            return gone

    def last_applied(self, uid: str, manager: str) -> dict[str, Any] | None:
        with self._cond:
            return copy.deepcopy(self._applied.get((uid, manager)))

    def remember_applied(self, uid: str, manager: str, config: dict[str, Any]) -> None:
        with self._cond:
            self._applied[(uid, manager)] = copy.deepcopy(config)

    # ---- watch -------------------------------------------------------------------------------------------

    def wait_for_change(self, since: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self._rv != since or self.closed, timeout)
            return self._rv

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def watch(
        self,
        resource: Resource,
        namespace: str,
        match: Predicate,
        *,
        since: int | None,
        initial: bool,
        bookmark: bool,
        timeout: float,
    ) -> Iterator[dict[str, Any] | None]:
        """Yield watch events: the current objects first when ``initial``, then changes until ``timeout``.

        ``None`` is yielded about once a second while nothing happens.
        """
        with self._cond:
            if initial or since is None:
                cursor = self._rv
                snapshot = [o for k, o in self._objects.items() if self._in_scope(k, resource, namespace) and match(o)]
            else:
                cursor, snapshot = since, []
            expired = self._trimmed_past(since) if not initial and since is not None else False
        if expired:
            yield self._expired(cursor)
            return
        yield from ({"type": "ADDED", "object": o} for o in snapshot)
        if initial and bookmark:
            yield self._initial_events_end(resource, cursor)
        yield from self._follow(resource, namespace, match, cursor, time.monotonic() + timeout)

    def _follow(
        self, resource: Resource, namespace: str, match: Predicate, cursor: int, deadline: float
    ) -> Iterator[dict[str, Any] | None]:
        while True:
            with self._cond:
                wait = min(HEARTBEAT_SECONDS, max(0.0, deadline - time.monotonic()))
                self._cond.wait_for(lambda: self._rv != cursor or self.closed, wait)  # noqa: B023 (called here)
                fresh = self._events_after(cursor)
                cursor = self._rv
            if not fresh:
                yield None  # a heartbeat: the server checks that the client is still there
            for event in fresh:
                if event.resource_key == resource.key and namespace in ("", event.namespace) and match(event.obj):
                    yield {"type": event.type, "object": event.obj}
            if self.closed or time.monotonic() >= deadline:
                return

    def _trimmed_past(self, rv: int) -> bool:
        """True when events after ``rv`` have already dropped out of the bounded history."""
        return len(self._events) == HISTORY and rv < self._events[0].rv - 1

    def _events_after(self, rv: int) -> list[Event]:
        fresh = []
        for event in reversed(self._events):
            if event.rv <= rv:
                break
            fresh.append(event)
        return fresh[::-1]

    @staticmethod
    def _initial_events_end(resource: Resource, rv: int) -> dict[str, Any]:
        meta = {"resourceVersion": str(rv), "annotations": {"k8s.io/initial-events-end": "true"}}
        return {
            "type": "BOOKMARK",
            "object": {"kind": resource.kind, "apiVersion": resource.group_version, "metadata": meta},
        }

    @staticmethod
    def _expired(since: int) -> dict[str, Any]:
        error = ApiError(410, "Expired", f"too old resource version: {since}")
        return {"type": "ERROR", "object": error.status()}

    # ---- internals ---------------------------------------------------------------------------------------

    @staticmethod
    def _key(resource: Resource, namespace: str, name: str) -> Key:
        return resource.key, namespace if resource.namespaced else "", name

    @staticmethod
    def _in_scope(key: Key, resource: Resource, namespace: str) -> bool:
        return key[0] == resource.key and namespace in ("", key[1])

    @staticmethod
    def _check_namespace(resource: Resource, namespace: str, meta: dict[str, Any]) -> None:
        if not resource.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace

    @staticmethod
    def _generated_name(resource: Resource, meta: dict[str, Any]) -> str:
        if not meta.get("generateName"):
            raise invalid(resource, "", "metadata.name: Required value: name or generateName is required")
        return meta["generateName"] + secrets.token_hex(3)[:5]

    def _merge_write(
        self, resource: Resource, live: dict[str, Any], obj: dict[str, Any], status_only: bool
    ) -> dict[str, Any]:
        if status_only:
            obj = {**live, "status": obj.get("status")}
        elif "status" in live:
            obj["status"] = live["status"]  # the main resource cannot change status; /status can
        meta = obj["metadata"]
        for field in ("uid", "creationTimestamp", "namespace", "resourceVersion", "generation"):
            if field in live["metadata"]:
                meta[field] = live["metadata"][field]
        if _spec_part(obj) != _spec_part(live):
            meta["generation"] = live["metadata"].get("generation", 1) + 1
        self._default(resource, obj, live)
        return obj

    def _default(self, resource: Resource, obj: dict[str, Any], live: dict[str, Any] | None) -> None:
        """The API server's own defaulting: cluster IPs, namespace phase, replica counts, Secret stringData."""
        obj.update(apiVersion=resource.group_version, kind=resource.kind)
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else None
        if resource.kind == "Service":
            self._default_service(obj.setdefault("spec", {}), (live or {}).get("spec") or {})
        elif resource.kind == "Namespace" and live is None:
            obj["spec"] = {"finalizers": ["kubernetes"], **(spec or {})}
            obj["status"] = {"phase": "Active"}
        elif resource.kind in ("Deployment", "ReplicaSet", "StatefulSet") and spec is not None:
            spec.setdefault("replicas", 1)
        elif resource.kind == "Secret" and obj.get("stringData"):
            encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in obj.pop("stringData").items()}
            obj["data"] = {**(obj.get("data") or {}), **encoded}

    def _default_service(self, spec: dict[str, Any], live_spec: dict[str, Any]) -> None:
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            spec["clusterIP"] = live_spec.get("clusterIP") or self._next_ip()
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))

    def _next_ip(self) -> str:
        return str(ipaddress.IPv4Address("10.96.0.0") + next(self._ips))

    def _put(self, resource: Resource, key: Key, obj: dict[str, Any], event: str) -> dict[str, Any]:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj
        self._record(resource, key, obj, event)
        return copy.deepcopy(obj)

    def _remove(self, resource: Resource, key: Key) -> dict[str, Any]:
        self._rv += 1
        gone = copy.deepcopy(self._objects.pop(key))
        for applied_key in [k for k in self._applied if k[0] == gone["metadata"].get("uid")]:
            del self._applied[applied_key]
        gone["metadata"].update(resourceVersion=str(self._rv), deletionTimestamp=now_iso())
        self._record(resource, key, gone, "DELETED")
        return copy.deepcopy(gone)

    def _record(self, resource: Resource, key: Key, obj: dict[str, Any], event: str) -> None:
        self._events.append(Event(self._rv, event, resource.key, key[1], obj))
        self._cond.notify_all()

    def _delete_dependents(self, uid: str) -> None:
        for key, obj in list(self._objects.items()):
            if key in self._objects and uid in owner_uids(obj):
                self.delete(resource_for_kind(key[0]), key[1], key[2])

    def _delete_namespace_contents(self, namespace: str) -> None:
        for key in [k for k in self._objects if k[1] == namespace]:
            if key in self._objects:
                self._remove(resource_for_kind(key[0]), key)
