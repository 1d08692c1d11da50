"""HTTP routing for the Kubernetes API stand-in: discovery, health, OpenAPI stubs, CRUD, PATCH and watch."""

import json
import logging
import select
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import controllers, discovery, protobuf
from .discovery import Resource
from .errors import ApiError, bad_request, not_found
from .label_selectors import field_selector, label_selector
from .patch import PatchError, json_patch, merge_patch, server_side_apply, strategic_merge

if TYPE_CHECKING:
    from .standin import KubeStandIn

logger = logging.getLogger(__name__)
PROTOBUF = "application/vnd.kubernetes.protobuf"
MAX_WATCH_SECONDS = 1800.0
WORKLOAD_KINDS = frozenset(controllers.KINDS)
HEALTH_PATHS = ("/healthz", "/readyz", "/livez")


@dataclass(frozen=True)
class Route:
    resource: Resource
    namespace: str
    name: str
    subresource: str


def parse_route(path: str) -> Route:
    """``/api/v1/namespaces/ns/secrets/x`` and ``/apis/apps/v1/deployments`` style paths."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group_version, rest = "v1", parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if not rest:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    namespace = ""
    nested = discovery.resource_for(group_version, rest[2]) if len(rest) >= 3 and rest[0] == "namespaces" else None
    if nested is not None and nested.namespaced:
        namespace, rest = rest[1], rest[2:]
    resource = discovery.resource_for(group_version, rest[0])
    if resource is None or len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return Route(resource, namespace, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")


def _query(raw: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class StandInHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], standin: "KubeStandIn") -> None:
        self.standin = standin
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, each response then waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: StandInHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: ``request_log`` keeps what tests need."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing ----------------------------------------------------------------------------------------

    @property
    def standin(self) -> "KubeStandIn":
        return self.server.standin

    def _dispatch(self, method: str) -> None:
        self.standin.log_request(method, self.path)
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if method == "POST" and url.path.startswith("/_standin/"):
                self._send_json(200, self.standin.admin(url.path, self.headers.get("Authorization", ""), body))
                return
            self.standin.check_refusals(method, url.path)
            if method == "GET" and self._static(url.path):
                return
            self._resource_request(method, parse_route(url.path), _query(url.query), body)
        except ApiError as error:
            self._send_json(error.code, error.status())
        except (PatchError, protobuf.ProtobufError, ValueError, yaml.YAMLError) as error:
            self._send_json(400, bad_request(str(error)).status())
        except Exception as error:  # answer as the real server would rather than dropping the connection
            logger.exception("kube stand-in: %s %s failed", method, self.path)
            self._send_json(500, ApiError(500, "InternalError", f"stand-in error: {error}").status())

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, code: int, payload: Any) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json")

    def _body(self, raw: bytes) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith(PROTOBUF):
            return protobuf.decode(raw)
        body = yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw or b"{}")
        if not isinstance(body, dict):
            raise bad_request("the request body must be an object")
        return body

    # ---- discovery, health, OpenAPI ----------------------------------------------------------------------

    def _static(self, path: str) -> bool:
        """Answer the non-resource paths; False when ``path`` is a resource path."""
        path = path.rstrip("/") or "/"
        if path.startswith(HEALTH_PATHS):
            self._send(200, b"ok", "text/plain; charset=utf-8")
        elif path.startswith("/openapi/"):
            self._openapi(path)
        else:
            document = self._discovery_document(path)
            if document is None:
                return False
            self._send_json(200, document)
        return True

    def _discovery_document(self, path: str) -> dict[str, Any] | None:
        parts = path.strip("/").split("/")
        if path == "/version":
            return discovery.SERVER_VERSION
        if path == "/api":
            return discovery.api_versions(f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        if path == "/apis":
            return discovery.api_group_list()
        if path == "/api/v1":
            return discovery.api_resource_list("v1")
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in discovery.GROUPS:
            return discovery.api_group(parts[1])
        if parts[0] == "apis" and len(parts) == 3 and discovery.has_group_version(f"{parts[1]}/{parts[2]}"):
            return discovery.api_resource_list(f"{parts[1]}/{parts[2]}")
        return None

    def _openapi(self, path: str) -> None:
        # Helm reads /openapi/v2 as protobuf; an empty document parses, a JSON one does not.
        if path == "/openapi/v2" and "protobuf" in self.headers.get("Accept", ""):
            self._send(200, b"", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        elif path == "/openapi/v2":
            self._send_json(200, {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": {}})
        elif path == "/openapi/v3":
            self._send_json(200, {"paths": {}})
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # ---- resources ---------------------------------------------------------------------------------------

    def _resource_request(self, method: str, route: Route, query: dict[str, str], raw: bytes) -> None:
        if route.subresource not in ("", "status", "finalize"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            self._read(route, query)
            return
        if route.resource.namespaced and not route.namespace:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        code, payload = self._write(method, route, raw, query)
        if route.resource.kind in WORKLOAD_KINDS:
            # Before answering, so that the client's next read (Helm's first readiness poll) sees the result.
            self.standin.controllers.reconcile_safely()
        self._send_json(code, payload)

    def _write(self, method: str, route: Route, raw: bytes, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        dry_run = query.get("dryRun") == "All"
        if method == "POST" and not route.name:
            return 201, self.standin.store.create(route.resource, route.namespace, self._body(raw), dry_run)
        if method == "PUT" and route.name:
            return 200, self._replace(route, self._body(raw), dry_run)
        if method == "PATCH" and route.name:
            return self._patch(route, raw, query)
        if method == "DELETE" and route.name:
            return 200, self._delete(route, raw, dry_run)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    def _replace(self, route: Route, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        return self.standin.store.replace(
            route.resource, route.namespace, route.name, obj, status_only=route.subresource == "status", dry_run=dry_run
        )

    def _read(self, route: Route, query: dict[str, str]) -> None:
        store = self.standin.store
        if route.name:
            self._send_json(200, store.get(route.resource, route.namespace, route.name))
            return
        labels, fields = label_selector(query.get("labelSelector")), field_selector(query.get("fieldSelector"))
        match = lambda obj: labels(obj) and fields(obj)  # noqa: E731
        if query.get("watch") in ("true", "1"):
            self._watch(route, query, match)
            return
        items, rv = store.list_objects(route.resource, route.namespace, match)
        self._send_json(
            200,
            {
                "kind": route.resource.list_kind,
                "apiVersion": route.resource.group_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )

    def _patch(self, route: Route, raw: bytes, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        store, content_type = self.standin.store, self.headers.get("Content-Type", "")
        live = store.find(route.resource, route.namespace, route.name)
        if "apply-patch" in content_type:
            return self._apply(route, live, self._body(raw), query)
        if live is None:
            raise not_found(route.resource, route.name)
        merged = self._merge(content_type, live, json.loads(raw or b"{}"))
        return 200, self._replace(route, merged, query.get("dryRun") == "All")

    def _apply(
        self, route: Route, live: dict[str, Any] | None, applied: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Server-side apply: create, or merge for this field manager (see ``patch.server_side_apply``)."""
        store, manager, dry_run = self.standin.store, query.get("fieldManager", ""), query.get("dryRun") == "All"
        if live is None:
            result, code = (
                store.create(
                    route.resource, route.namespace, merge_patch(applied, {"metadata": {"name": route.name}}), dry_run
                ),
                201,
            )
        else:
            last = store.last_applied(live["metadata"]["uid"], manager)
            result, code = self._replace(route, server_side_apply(live, applied, last), dry_run), 200
        if not dry_run:
            store.remember_applied(result["metadata"]["uid"], manager, applied)
        return code, result

    @staticmethod
    def _merge(content_type: str, live: dict[str, Any], patch: Any) -> dict[str, Any]:
        if content_type.startswith("application/json-patch+json"):
            return json_patch(live, patch)
        if content_type.startswith("application/merge-patch+json"):
            return merge_patch(live, patch)
        if content_type.startswith("application/strategic-merge-patch+json"):
            return strategic_merge(live, patch)
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}")

    def _delete(self, route: Route, raw: bytes, dry_run: bool) -> dict[str, Any]:
        options = self._body(raw) if raw else {}
        orphan = options.get("propagationPolicy") == "Orphan" or options.get("orphanDependents") is True
        dry_run = dry_run or "All" in (options.get("dryRun") or [])
        return self.standin.store.delete(route.resource, route.namespace, route.name, orphan=orphan, dry_run=dry_run)

    # ---- watch -------------------------------------------------------------------------------------------

    def _watch(self, route: Route, query: dict[str, str], match: Any) -> None:
        rv = query.get("resourceVersion", "")
        since = int(rv) if rv not in ("", "0") else None
        explicit_initial = query.get("sendInitialEvents") == "true"
        events = self.standin.store.watch(
            route.resource,
            route.namespace,
            match,
            since=since,
            initial=explicit_initial or since is None,
            bookmark=explicit_initial and query.get("allowWatchBookmarks") == "true",
            timeout=min(float(query.get("timeoutSeconds") or MAX_WATCH_SECONDS), MAX_WATCH_SECONDS),
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                if event is None:
                    if self._client_gone():
                        return
                    continue
                self._chunk(json.dumps(event).encode() + b"\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            events.close()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """A quiet watch notices a client that hung up (readable with nothing to read = EOF)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if readable:
            try:
                return self.connection.recv(1, 0x2) == b""  # MSG_PEEK
            except OSError:
                return True
        return False
