"""``KubeStandIn``: the threaded server, its store and controllers, and what tests read back from it."""

import hmac
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import yaml

from .controllers import Controllers
from .discovery import resource_for_kind
from .errors import ApiError, bad_request
from .label_selectors import label_selector as parse_label_selector
from .server import StandInHTTPServer
from .store import Store
from .switches import ADMIN_ACTIONS, ADMIN_PREFIX, Refusal


class KubeStandIn:
    """A Kubernetes API stand-in that the real ``helm`` can install into. A contract fake: nothing runs.

    >>> standin = KubeStandIn().start()
    >>> standin.write_kubeconfig(tmp / "kubeconfig")  # then helm --kubeconfig ... install --wait
    >>> standin.objects("Deployment", namespace="demo")
    >>> standin.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, controllers: bool = True) -> None:
        self.store = Store()
        self.controllers = Controllers(self.store)
        self.controllers.enabled = controllers
        self.request_log: list[tuple[str, str]] = []  # (method, path with query), oldest first
        self.request_log_limit: int | None = None  # a long-running sandbox keeps only the latest requests
        self.refusals: list[Refusal] = []
        # The admin endpoint's token; a separate secret, so a kubeconfig holder (Helm) cannot flip switches.
        self.admin_token = secrets.token_urlsafe(24)
        self._httpd = StandInHTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "KubeStandIn":
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="kube-standin-http", daemon=True
        )
        self._thread.start()
        self.controllers.start()
        return self

    def stop(self) -> None:
        self.store.close()  # ends open watches and the controller loop
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        self.controllers.join()

    def __enter__(self) -> "KubeStandIn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ---- kubeconfig --------------------------------------------------------------------------------------

    def kubeconfig(self, namespace: str | None = None) -> str:
        """A kubeconfig (YAML) whose current context points at this stand-in over plain HTTP."""
        context: dict[str, Any] = {"cluster": "kube-standin", "user": "kube-standin"}
        if namespace:
            context["namespace"] = namespace
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kube-standin", "cluster": {"server": self.url}}],
                "users": [{"name": "kube-standin", "user": {"token": "kube-standin"}}],
                "contexts": [{"name": "kube-standin", "context": context}],
                "current-context": "kube-standin",
                "preferences": {},
            },
            sort_keys=False,
        )

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str | None = None) -> Path:
        """Write the kubeconfig with mode 0600 (helm warns about group/world-readable kubeconfigs)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.kubeconfig(namespace))
        os.chmod(path, 0o600)
        return path

    # ---- reading objects back ----------------------------------------------------------------------------

    def objects(
        self, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored objects of a kind (``"Deployment"``, ``"deployments"``), optionally by namespace and labels."""
        match = parse_label_selector(label_selector)
        return self.store.list_objects(resource_for_kind(kind), namespace or "", match)[0]

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.store.find(resource_for_kind(kind), namespace or "", name)

    def log_request(self, method: str, path: str) -> None:
        self.request_log.append((method, path))
        if self.request_log_limit is not None and len(self.request_log) > 2 * self.request_log_limit:
            del self.request_log[: -self.request_log_limit]

    # ---- switches ----------------------------------------------------------------------------------------

    def fail_release(self, release_name: str) -> None:
        """Objects of this Helm release never become ready, so ``helm --wait`` runs into its deadline."""
        self.controllers.failing_releases.add(release_name)

    def set_controllers(self, enabled: bool) -> None:
        self.controllers.enabled = enabled

    @property
    def install_delay_seconds(self) -> float:
        """How long a new Deployment (or other workload generation) takes to become ready."""
        return self.controllers.install_delay_seconds

    @install_delay_seconds.setter
    def install_delay_seconds(self, seconds: float) -> None:
        self.controllers.install_delay_seconds = float(seconds)

    # ---- failures and health switches (tests, and the sandbox through the admin endpoint) ----------------

    def refuse(self, refusal: Refusal) -> None:
        """Answer matching requests with ``refusal``'s error until ``stop_refusing``."""
        self.refusals.append(refusal)

    def stop_refusing(self) -> None:
        self.refusals.clear()

    def check_refusals(self, method: str, path: str) -> None:
        for refusal in list(self.refusals):
            if refusal.matches(method, path):
                raise refusal.error()

    def crash_loop(self, namespace: str, name: str) -> None:
        """The Pods of Deployment ``name`` crash-loop (CrashLoopBackOff) and it loses its ready replicas."""
        self.controllers.crash_looping.add((namespace, name))
        self.controllers.reconcile_safely()

    def make_unready(self, namespace: str, name: str) -> None:
        """Deployment ``name`` reports no ready replicas (a failing readiness probe); its Pods stay Running."""
        self.controllers.unready.add((namespace, name))
        self.controllers.reconcile_safely()

    def heal(self, namespace: str, name: str) -> None:
        self.controllers.crash_looping.discard((namespace, name))
        self.controllers.unready.discard((namespace, name))
        self.controllers.reconcile_safely()

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object out of band (as ``kubectl delete`` would), its dependents with it."""
        self.store.delete(resource_for_kind(kind), namespace, name)

    def events_for(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.objects("Event", namespace)
            if (e.get("involvedObject") or {}).get("kind") == kind and e["involvedObject"].get("name") == name
        ]

    def write_admin_file(self, path: str | os.PathLike[str]) -> Path:
        """The admin endpoint's URL and token, 0600, for ``manage.py sandbox_cluster <switch>``."""
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"url": self.url, "token": self.admin_token}, handle)
        return path

    def admin(self, path: str, authorization: str, body: bytes) -> dict[str, Any]:
        """``POST /_standin/<action>`` with ``{"namespace", "name", "kind"?}``: flip a switch."""
        if not hmac.compare_digest(authorization.encode(), f"Bearer {self.admin_token}".encode()):
            raise ApiError(401, "Unauthorized", "the stand-in admin endpoint needs its own token")
        action = path.removeprefix(ADMIN_PREFIX)
        request = json.loads(body or b"{}")
        if action not in ADMIN_ACTIONS or not isinstance(request, dict):
            raise bad_request(f"actions: {', '.join(ADMIN_ACTIONS)}; body: a JSON object")
        namespace, name = str(request.get("namespace") or ""), str(request.get("name") or "")
        if action == "delete":
            self.delete_object(str(request.get("kind") or "Deployment"), namespace, name)
        else:
            {"crash": self.crash_loop, "unready": self.make_unready, "heal": self.heal}[action](namespace, name)
        return {"ok": True, "action": action, "namespace": namespace, "name": name}
