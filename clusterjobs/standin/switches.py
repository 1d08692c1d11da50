"""Switches that make the stand-in fail or misbehave the way a real cluster does, for tests and the sandbox.

- ``Refusal``: answer matching requests with a Kubernetes ``Status`` error (401 for bad credentials, 403 for
  an exceeded quota or an admission webhook, 409, ...), so Helm fails with the text a real API server causes.
- The health switches live on ``Controllers`` (``unready``, ``crash_looping``); ``KubeStandIn`` exposes them
  and the admin endpoint ``POST /_standin/<action>`` lets ``manage.py sandbox_cluster`` flip them from
  another process.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError
from .server import parse_route

ADMIN_PREFIX = "/_standin/"
ADMIN_ACTIONS = ("crash", "unready", "heal", "delete")


@dataclass(frozen=True)
class Refusal:
    """Refuse requests with ``code``/``reason``/``message``; ``methods``/``kind`` narrow it (empty/None: any)."""

    code: int
    reason: str
    message: str
    methods: tuple[str, ...] = ()
    kind: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if path.startswith(ADMIN_PREFIX) or (self.methods and method not in self.methods):
            return False
        if self.kind is None:
            return True
        try:
            return parse_route(path).resource.kind == self.kind
        except ApiError:
            return False

    def error(self) -> ApiError:
        return ApiError(self.code, self.reason, self.message)


def quota_refusal(kind: str = "Deployment") -> Refusal:
    """What a ResourceQuota admission refusal looks like from the API server."""
    message = (
        f'{kind.lower()}s "x" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=4, '
        "used: limits.cpu=8, limited: limits.cpu=10"
    )
    return Refusal(403, "Forbidden", message, methods=("POST", "PATCH"), kind=kind)  # Helm 4 creates by PATCH


def auth_refusal() -> Refusal:
    return Refusal(401, "Unauthorized", "Unauthorized")
