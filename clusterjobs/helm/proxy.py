"""A per-job Kubernetes API proxy that enforces the portal's policy on exactly what Helm sends.

Helm is given a kubeconfig that points at this proxy (https://127.0.0.1 with a throwaway certificate, an
ephemeral port, a random bearer token);
the proxy forwards to the real API server with the cluster's real credentials, which never reach Helm's
kubeconfig file. Every request is checked first (``clusterjobs.policy``):

- its path: the deployment's own namespace, the namespace object itself, discovery, and the cluster-scoped
  kinds the cluster's admin allowed; nothing else, reads included (a chart's ``lookup`` reads through here);
- the body of every write, decoded as the API server decodes it (JSON, YAML with go-yaml's YAML 1.1
  scalars, or protobuf), against the Pod Security Standards level of the cluster;
- for a PATCH, the object the API server *would* store: the same PATCH with ``dryRun=All`` first, so a
  merge that only makes sense against the live object is judged on its result.

Why a proxy and not ``helm template`` or a post-renderer: a post-renderer does not see hooks, ``lookup`` runs
only against a cluster, and Helm splits ``kind: List`` wrappers itself. The proxy sees what reaches the API
server and nothing else. A refusal is a Kubernetes ``Status`` 403 whose message says why, so Helm fails with a
readable error and ``--atomic`` rolls back.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import http.client
import json
import logging
import re
import secrets
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml

from clusterjobs.helm.throwaway_tls import server_context
from clusterjobs.kube import KubeClient, KubeError
from clusterjobs.kubeconfig import KubeConfig
from clusterjobs.policy import yaml11
from clusterjobs.policy.objects import object_problems
from clusterjobs.policy.scope import (
    WRITE_METHODS,
    Policy,
    Refused,
    Target,
    body_scope_problems,
    check_request,
)
from clusterjobs.resources import Health, workload_health
from clusterjobs.standin import protobuf

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
UPSTREAM_TIMEOUT_SECONDS = 120.0
PROTOBUF = "application/vnd.kubernetes.protobuf"
FORWARDED_REQUEST_HEADERS = ("Accept", "Content-Type", "User-Agent")
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Warning", "Cache-Control", "Audit-Id")
JSON_PATCH = "application/json-patch+json"
WORKLOAD_KINDS = {"deployments": "Deployment", "statefulsets": "StatefulSet"}
WORKLOAD_PATH = re.compile(r"^/apis/apps/v1/namespaces/[^/]+/(deployments|statefulsets)/([^/]+)$")


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Refused("the JSON body repeats a key; which one the API server keeps is not for a chart to choose")
    return dict(pairs)


def decode_body(content_type: str, raw: bytes) -> Any:
    """The body as the API server reads it; ``Refused`` when it cannot be read unambiguously."""
    media = content_type.split(";")[0].strip().lower()
    try:
        if media == PROTOBUF:
            return protobuf.decode(raw)
        if "yaml" in media:
            return yaml11.load(raw)
        if "json" in media or not media:
            return json.loads(raw or b"null", object_pairs_hook=_unique_keys)
    except (protobuf.ProtobufError, yaml11.YAMLBodyError, ValueError, RecursionError) as exc:
        raise Refused(f"the request body cannot be read: {exc}") from None
    raise Refused(f"the request body's type {media!r} is not one the portal can check")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    proxy: PolicyProxy

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        # The handshake happens in the handler's thread (on first read), not in the accept loop.
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver calls this from its exception handler: exc_info is the connection's error.
        logger.debug("policy proxy: connection from %s ended with an error", client_address, exc_info=True)  # noqa: LOG014


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: refusals are logged on their own."""

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:  # Helm hung up: so does the proxy, on the API server
            self._upstream.close()
            self._upstream = None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    # ---- request ----------------------------------------------------------------------------------------

    @property
    def proxy(self) -> PolicyProxy:
        return self.server.proxy

    def _handle(self, method: str) -> None:
        if not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {self.proxy.token}"):
            self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
            return
        body = self._read_body()
        if body is None:
            return
        url = urlsplit(self.path)
        try:
            if not self.path.startswith("/"):
                raise Refused("only origin-form request paths are accepted")
            target = check_request(method, url.path, self.proxy.policy, self.proxy.resolve)
            if target is not None and method in WRITE_METHODS and self._refuse_write(method, target, body):
                return
        except Refused as exc:
            self._refuse(method, str(exc))
            return
        except (OSError, http.client.HTTPException) as exc:  # the dry run could not reach the API server
            self._upstream = None
            self.proxy.unreachable.append(str(exc))
            self._send(503, status_body(503, "ServiceUnavailable", f"the API server is unreachable: {exc}"))
            return
        self._forward(method, url.path + (f"?{url.query}" if url.query else ""), body)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding") or self.headers.get("Upgrade"):
            self._send(400, status_body(400, "BadRequest", "chunked or upgraded requests are not supported"))
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, status_body(400, "BadRequest", "the Content-Length is not a length"))
            self.close_connection = True
            return None
        if length > MAX_BODY_BYTES:
            self._send(413, status_body(413, "RequestEntityTooLarge", "the request body is too large"))
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _refuse(self, method: str, reason: str) -> None:
        message = f"refused by the portal's policy: {reason}"
        logger.info("policy proxy refused %s %s: %s", method, urlsplit(self.path).path, reason)
        self.proxy.refusals.append(message)
        self._send(403, status_body(403, "Forbidden", message))

    def _refuse_write(self, method: str, target: Target, raw: bytes) -> bool:
        """Check a write; True when it was answered here (refused, or its dry run failed)."""
        content_type = self.headers.get("Content-Type", "")
        sent = decode_body(content_type, raw)
        objects = [sent] if isinstance(sent, dict) else []
        if method == "PATCH":
            dry_run = self._dry_run(raw)
            if dry_run is None:
                return True
            objects.append(dry_run)
        elif not isinstance(sent, dict):
            raise Refused(f"the body of a {method} must be an object")
        problems: list[str] = []
        for obj in objects:
            for problem in [
                *body_scope_problems(obj, target, self.proxy.policy),
                *object_problems(obj, level=self.proxy.policy.level, kind=target.kind),
            ]:
                if problem not in problems:
                    problems.append(problem)
        if problems:
            metadata = sent.get("metadata") if isinstance(sent, dict) else None
            name = target.name or (metadata.get("name") if isinstance(metadata, dict) else None) or "?"
            self._refuse(method, f"{target.kind} {name}: " + "; ".join(problems))
            return True
        return False

    def _dry_run(self, raw: bytes) -> dict[str, Any] | None:
        """The object a PATCH would produce, from the API server itself; None when the dry run failed (its
        answer has then been relayed to Helm, as the real PATCH would have failed the same way)."""
        url = urlsplit(self.path)
        query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "dryRun"]
        path = url.path + "?" + urlencode([*query, ("dryRun", "All")])
        response, _ = self._request("PATCH", path, raw, accept="application/json")
        data = response.read()
        if response.status >= 300:
            self._send(response.status, data, response.getheader("Content-Type") or "application/json")
            return None
        try:
            result = json.loads(data)
        except ValueError:
            raise Refused("the API server's dry run of this PATCH returned no object to check") from None
        if not isinstance(result, dict):
            raise Refused("the API server's dry run of this PATCH returned no object to check")
        return result

    # ---- upstream ---------------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: bytes, *, accept: str | None = None, stream: bool = False
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        headers = {h: self.headers[h] for h in FORWARDED_REQUEST_HEADERS if self.headers.get(h)}
        if accept:
            headers["Accept"] = accept
        headers.update(self.proxy.client.auth_headers())
        if body or method in WRITE_METHODS:
            headers["Content-Length"] = str(len(body))
        url = self.proxy.client.path_prefix + path
        for attempt in (1, 2):
            kept = None if stream else self._upstream
            reused = kept is not None
            connection = kept or self.proxy.client.open_connection(None if stream else UPSTREAM_TIMEOUT_SECONDS)
            try:
                connection.request(method, url, body=body or None, headers=headers)
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._upstream = None
                if reused and attempt == 1:  # the API server closed an idle keep-alive connection
                    continue
                raise
            if not stream:
                self._upstream = connection
            return response, connection
        raise AssertionError("unreachable")

    def _forward(self, method: str, path: str, body: bytes) -> None:
        stream = "watch=" in urlsplit(path).query or "follow=" in urlsplit(path).query
        try:
            response, connection = self._request(method, path, body, stream=stream)
        except (OSError, http.client.HTTPException, KubeError) as exc:
            self._upstream = None
            self.proxy.unreachable.append(str(exc))
            self._send(503, status_body(503, "ServiceUnavailable", f"the API server is unreachable: {exc}"))
            return
        if response.getheader("Content-Length") is not None and not stream:
            data = response.read()
            self.proxy.learn_discovery(urlsplit(path).path, response.status, data)
            if method == "GET" and response.status == 200:
                self.proxy.observe_readiness(urlsplit(path).path, data)
            self._send(response.status, data, None, response)
            return
        self.proxy.streams.add(connection)
        try:
            self._stream(response)
        finally:
            self.proxy.streams.discard(connection)
            connection.close()
            if connection is self._upstream:
                self._upstream = None

    def _stream(self, response: http.client.HTTPResponse) -> None:
        """Relay a watch (or any response without a length) chunk by chunk as it arrives."""
        self.send_response(response.status)
        self._copy_headers(response)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while chunk := response.read1(65536):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # Helm hung up (or the API server did): end both sides

    def _copy_headers(self, response: http.client.HTTPResponse) -> None:
        for header in FORWARDED_RESPONSE_HEADERS:
            for value in response.headers.get_all(header) or []:
                self.send_header(header, value)

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str | None = "application/json",
        response: http.client.HTTPResponse | None = None,
    ) -> None:
        self.send_response(code)
        if response is not None:
            self._copy_headers(response)
        elif content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class PolicyProxy:
    """One job's proxy; use ``with PolicyProxy(config, policy) as proxy:`` and give Helm ``proxy.kubeconfig()``."""

    def __init__(self, config: KubeConfig, policy: Policy):
        self.policy = policy
        self.client = KubeClient(config, timeout=UPSTREAM_TIMEOUT_SECONDS)
        self.token = secrets.token_urlsafe(32)
        self.refusals: list[str] = []
        # Why the API server could not be reached: Helm shows only "the server is currently unable to handle
        # the request" for a 503 during discovery, so the runner adds the last reason to Helm's error.
        self.unreachable: list[str] = []
        # What Helm 3's --wait last saw of each workload it polls ("Deployment llm" -> "0/1 replicas"), so a
        # timeout can say what it was waiting for.
        self.not_ready: dict[str, str] = {}
        self.streams: set[http.client.HTTPConnection] = set()
        self._resources: dict[str, dict[str, tuple[str, bool]] | None] = {}
        self._lock = threading.Lock()
        context, self._cert_pem = server_context()
        self._server = _Server(context)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._accept_loop, name="policy-proxy", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        # Not serve_forever(): its shutdown() waits out a poll interval, which every job would pay. A
        # blocking accept() ends at once when __exit__ shuts the listening socket down.
        while True:
            try:
                request, address = self._server.get_request()
            except OSError:
                return
            self._server.process_request(request, address)  # a thread per connection

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._server.socket.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # A quiet watch would keep its thread and upstream connection for as long as the API server lets it.
        for connection in list(self.streams):
            with contextlib.suppress(OSError):
                if connection.sock is not None:
                    connection.sock.shutdown(socket.SHUT_RDWR)
            connection.close()

    def kubeconfig(self) -> str:
        """A kubeconfig for Helm: this proxy, this job's token; no real credential in it."""
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "policy-proxy",
                "clusters": [
                    {
                        "name": "policy-proxy",
                        "cluster": {
                            "server": self.url,
                            "certificate-authority-data": base64.b64encode(self._cert_pem).decode(),
                        },
                    }
                ],
                "users": [{"name": "policy-proxy", "user": {"token": self.token}}],
                "contexts": [
                    {
                        "name": "policy-proxy",
                        "context": {
                            "cluster": "policy-proxy",
                            "user": "policy-proxy",
                            "namespace": self.policy.namespace,
                        },
                    }
                ],
            },
            sort_keys=False,
        )

    def resolve(self, group_version: str, plural: str) -> tuple[str, bool] | None:
        """``(kind, namespaced)`` of a resource, from the API server's discovery (asked once per version)."""
        with self._lock:
            if group_version not in self._resources:
                self._resources[group_version] = self._discover(group_version)
            resources = self._resources[group_version]
        return (resources or {}).get(plural)

    def observe_readiness(self, path: str, data: bytes) -> None:
        match = WORKLOAD_PATH.match(path)
        if match is None:
            return
        try:
            obj = json.loads(data)
            health, facts = workload_health({**obj, "kind": WORKLOAD_KINDS[match.group(1)]})
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not a workload Helm can wait for: nothing to learn
        key = f"{WORKLOAD_KINDS[match.group(1)]} {match.group(2)}"
        if health == Health.HEALTHY:
            self.not_ready.pop(key, None)
        else:
            self.not_ready[key] = facts

    def learn_discovery(self, path: str, status: int, body: bytes) -> None:
        """Keep the discovery documents Helm fetches anyway, so that ``resolve`` rarely asks on its own."""
        parts = [p for p in path.split("/") if p]
        if status != 200 or not (parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis")):
            return
        group_version = "v1" if parts[0] == "api" else f"{parts[1]}/{parts[2]}"
        with contextlib.suppress(ValueError):
            resources = _resource_map(json.loads(body))
            if resources is not None:
                with self._lock:
                    self._resources.setdefault(group_version, resources)

    def _discover(self, group_version: str) -> dict[str, tuple[str, bool]] | None:
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        try:
            document = self.client.get_json(path, allow_404=True)
        except KubeError as exc:
            raise Refused(f"the API server's discovery of {group_version} failed: {exc}") from None
        return _resource_map(document)


def _resource_map(document: Any) -> dict[str, tuple[str, bool]] | None:
    """``{plural: (kind, namespaced)}`` from an ``APIResourceList``; None when it is not one."""
    if not isinstance(document, dict) or document.get("kind") not in ("APIResourceList", None):
        return None
    entries = document.get("resources")
    if not isinstance(entries, list):
        return None
    return {
        e["name"]: (str(e.get("kind")), bool(e.get("namespaced")))
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("name"), str) and "/" not in e["name"]
    }


@contextlib.contextmanager
def policy_proxy(config: KubeConfig, policy: Policy) -> Iterator[PolicyProxy]:
    with PolicyProxy(config, policy) as proxy:
        yield proxy
