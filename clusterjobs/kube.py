"""A tiny Kubernetes API client over the standard library, for what Helm does not do for us.

Used by cluster health (``/version``, ``/readyz``) and by uninstall (is the namespace empty of our objects?
delete it). ``kubectl`` is not guaranteed to exist where the portal runs, and the official client is a large
dependency for three calls. Credentials come from the kubeconfig's current context only.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

from clusterjobs.kubeconfig import KubeConfig

DEFAULT_TIMEOUT_SECONDS = 5.0


class KubeError(Exception):
    """The API server could not be reached, refused the TLS handshake, or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, kind: str = "http"):
        super().__init__(message)
        self.status = status
        self.kind = kind  # "unreachable" | "tls" | "auth" | "http"


@dataclass
class KubeResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _ssl_context(config: KubeConfig) -> ssl.SSLContext:
    cadata = config.ca_data.decode("ascii", "replace") if config.ca_data else None
    try:
        context = ssl.create_default_context(cadata=cadata)
    except ssl.SSLError:
        raise KubeError(
            "the kubeconfig's certificate-authority-data is not a valid PEM certificate", kind="tls"
        ) from None
    if config.insecure_skip_tls_verify:  # the kubeconfig asked for it explicitly
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_cert_data and config.client_key_data:
        _load_client_cert(context, config.client_cert_data, config.client_key_data)
    return context


def _load_client_cert(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads a certificate chain from files: write a 0600 file, load it, remove it at once.
    fd, path = tempfile.mkstemp(prefix="budportal-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(cert.rstrip(b"\n") + b"\n" + key)
        context.load_cert_chain(path)
    except ssl.SSLError as exc:
        raise KubeError(
            f"the kubeconfig's client certificate or key is not usable ({exc.reason})", kind="tls"
        ) from None
    finally:
        os.unlink(path)


class KubeClient:
    def __init__(self, config: KubeConfig, *, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        self.config = config
        self.timeout = timeout
        parts = urlsplit(config.server)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        try:
            self._port = parts.port or (443 if self._https else 80)
        except ValueError:
            raise KubeError(f"the server URL {config.server} has an invalid port", kind="unreachable") from None
        self._prefix = parts.path.rstrip("/")
        self._context = _ssl_context(config) if self._https else None

    def _connection(self) -> http.client.HTTPConnection:
        return self.open_connection(self.timeout)

    def open_connection(self, timeout: float | None) -> http.client.HTTPConnection:
        """A new connection to the API server with the kubeconfig's TLS settings (the policy proxy's upstream)."""
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    @property
    def path_prefix(self) -> str:
        return self._prefix

    def auth_headers(self) -> dict[str, str]:
        """The kubeconfig's credentials as request headers (a client certificate is in the TLS context)."""
        return {k: v for k, v in self._headers(None).items() if k == "Authorization"}

    def _headers(self, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "budportal"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        elif self.config.username and self.config.password:
            basic = base64.b64encode(f"{self.config.username}:{self.config.password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None) -> KubeResponse:
        """One request; transport and TLS failures become ``KubeError`` with a message safe to show."""
        url = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        connection = self._connection()
        try:
            connection.request(method, url, body=payload, headers=self._headers(payload))
            response = connection.getresponse()
            return KubeResponse(status=response.status, body=response.read())
        except ssl.SSLCertVerificationError as exc:
            raise KubeError(
                f"TLS verification of {self.config.server} failed: {exc.verify_message}", kind="tls"
            ) from None
        except ssl.SSLError as exc:
            raise KubeError(
                f"TLS handshake with {self.config.server} failed: {exc.reason or exc}", kind="tls"
            ) from None
        except http.client.HTTPException:
            # Something listens there but does not speak HTTP (a database, SSH...). What it sent is not shown:
            # the server URL is the user's, the bytes behind it may be someone else's.
            raise KubeError(
                f"API server {self.config.server} is unreachable: it did not answer HTTP", kind="unreachable"
            ) from None
        except TimeoutError:
            raise KubeError(
                f"API server {self.config.server} did not answer within {self.timeout:g} s", kind="unreachable"
            ) from None
        except OSError as exc:
            raise KubeError(
                f"API server {self.config.server} is unreachable: {exc.strerror or exc}", kind="unreachable"
            ) from None
        finally:
            connection.close()

    def get_json(self, path: str, *, query: dict[str, str] | None = None, allow_404: bool = False) -> Any:
        response = self.request("GET", path, query=query)
        if response.status == 404 and allow_404:
            return None
        _raise_for_status(response, f"GET {path}")
        try:
            return response.json()
        except ValueError:  # the body is not shown, for the same reason as above
            raise KubeError(
                f"GET {path}: the answer is not JSON; is {self.config.server} a Kubernetes API server?",
                status=response.status,
            ) from None

    def apply(self, collection: str, obj: dict[str, Any], *, attempts: int = 3) -> None:
        """Create ``obj`` in ``collection`` (``/apis/<group>/<version>/namespaces/<ns>/<plural>``), or replace
        the object of that name: the portal's own objects (routes, network policies) converge on a retry.
        Two components of one wave apply the namespace's NetworkPolicy at the same moment: a 409 (created or
        changed by the other in between) is answered by reading it again and replacing it."""
        path = f"{collection}/{obj['metadata']['name']}"
        for attempt in range(1, attempts + 1):
            current = self.get_json(path, allow_404=True)
            if current is None:
                response = self.request("POST", collection, body=obj)
                what = f"POST {collection}"
            else:
                version = (current.get("metadata") or {}).get("resourceVersion")
                body = {**obj, "metadata": {**obj["metadata"], **({"resourceVersion": version} if version else {})}}
                response = self.request("PUT", path, body=body)
                what = f"PUT {path}"
            if response.status != 409 or attempt == attempts:
                _raise_for_status(response, what)
                return

    def delete(self, path: str) -> bool:
        """Delete an object; False when it was already gone."""
        response = self.request("DELETE", path)
        if response.status == 404:
            return False
        _raise_for_status(response, f"DELETE {path}")
        return True


def _raise_for_status(response: KubeResponse, what: str) -> None:
    if response.status in (401, 403):
        raise KubeError(
            f"{what}: the API server refused the kubeconfig's credentials (HTTP {response.status})",
            status=response.status,
            kind="auth",
        )
    if response.status >= 400:
        raise KubeError(f"{what}: {status_text(response.status)}", status=response.status)


# client-go (and so Helm) quotes a failed answer's body: 'an error on the server ("<body>") has prevented...'.
_QUOTED_SERVER_BODY = re.compile(r'an error on the server \(".*?"\) has prevented', re.DOTALL)


def without_server_bodies(text: str) -> str:
    """``text`` (Helm's error) with any quoted API-server answer removed: whatever listens at the kubeconfig's
    URL must not be able to show its pages through a job's error."""
    return _QUOTED_SERVER_BODY.sub("an error on the server (answer not shown) has prevented", text)


def status_text(status: int) -> str:
    """``HTTP 503 Service Unavailable``: the standard phrase, never the server's own reason or body."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"
