"""Readable failures: Helm's and the API server's error text → one plain-words cause, first.

The one place that knows what a helm/kubectl error *means*. Pages show ``Failure.cause`` first and fold
``Failure.raw`` (the whole text, unchanged) under "details"; notifications carry only the cause. Patterns
come from real output of helm 3/4 against the Kubernetes API stand-in and the policy proxy (see
tests/clusterjobs/test_failures.py); anything unrecognised keeps its first meaningful line, never a wall of
client-go noise (``memcache.go:287 "Unhandled Error"`` lines are dropped from the cause).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    UNREACHABLE = "unreachable"
    AUTH = "auth"
    SCHEMA = "schema"
    TIMEOUT = "timeout"
    CONFLICT = "conflict"
    POLICY = "policy"
    QUOTA = "quota"
    NOT_FOUND = "not_found"
    CANCELLED = "cancelled"
    OTHER = "other"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    cause: str  # one line, plain words, shown first
    raw: str  # the original text, shown folded

    @property
    def has_details(self) -> bool:
        return bool(self.raw) and self.raw.strip() != self.cause


MAX_CAUSE = 300
# klog lines (E1130 10:38:21.123 12345 memcache.go:287] ...) and client-go's repeated discovery complaints.
_NOISE = re.compile(r"^\s*([EWI]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]|.*Unhandled Error)")
_JOB_TIMEOUT = re.compile(r"job exceeded its timeout of (\d+) s")
_NOT_READY = re.compile(r"still not ready when Helm gave up: (\w+) (\S+) \(([^)]*)\)")  # clusterjobs.helm.runner
_ATOMIC = re.compile(r"^release \S+ failed(, and has been uninstalled due to atomic being set)?: ")
_UNREACHABLE_REASONS = (
    ("connection refused", "connection refused"),
    ("no such host", "the host name does not resolve"),
    ("name or service not known", "the host name does not resolve"),
    ("i/o timeout", "no answer (network timeout)"),
    ("did not answer within", "no answer (timeout)"),
    ("network is unreachable", "network is unreachable"),
    ("no route to host", "no route to host"),
    ("did not answer http", "it does not speak HTTP"),
)
_AUTH_MARKERS = (
    "provide credentials",
    "unauthorized",
    "you must be logged in",
    "refused the kubeconfig's credentials",
)
_TLS_MARKERS = ("x509:", "tls verification", "tls handshake", "certificate signed by unknown authority")
_TIMEOUT_MARKERS = ("context deadline exceeded", "timed out waiting", "job exceeded its timeout")


def _clean_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not _NOISE.match(line)]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 1] + "…"


def _after(text: str, marker: str) -> str:
    return text[text.lower().index(marker.lower()) + len(marker) :].strip(" :")


def _policy(text: str) -> str | None:
    for marker in ("refused by the portal's policy:", "rendered manifests refused:"):
        if marker in text:
            problems = [p.strip() for p in _after(text, marker).split("\n")[0].split("; ") if p.strip()]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return f"Refused by the cluster policy: {problems[0] if problems else 'see details'}{more}"
    return None


def _quota(text: str) -> str | None:
    if "exceeded quota" not in text:
        return None
    return "Cluster quota exceeded: " + _after(text, "exceeded quota").split("\n")[0]


def _schema(lines: list[str], text: str) -> str | None:
    if "don't meet the specifications of the schema" not in text:
        return None
    problems = [line.lstrip("- ").strip() for line in lines if line.startswith("- ")]
    first = problems[0] if problems else "see details"
    first = re.sub(r"Invalid type\. Expected: (\w+), given: (\w+)", r"must be \1 (got \2)", first)  # Helm 3
    helm4 = re.match(r"at '/([^']*)': got (\w+), want (\w+)", first)  # Helm 4
    if helm4:
        first = f"{helm4.group(1).replace('/', '.')}: must be {helm4.group(3)} (got {helm4.group(2)})"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Chart values rejected by the chart's schema: {first}{more}"


def _unreachable(low: str) -> str | None:
    if not any(
        m in low
        for m in ("cluster unreachable", "is unreachable", "unable to handle the request", "connection refused")
    ):
        return None
    reason = next((plain for marker, plain in _UNREACHABLE_REASONS if marker in low), None)
    return f"Cluster API unreachable: {reason or 'the API server did not answer'}"


def _auth(low: str) -> str | None:
    if any(m in low for m in _TLS_MARKERS):
        return "Cluster refused the connection: TLS verification failed (check the kubeconfig's certificate data)"
    if any(m in low for m in _AUTH_MARKERS):
        return "Cluster refused the credentials: the kubeconfig's token or certificate was not accepted"
    if "is forbidden: user" in low or "cannot " in low and "forbidden" in low:
        return "Not allowed by the cluster's access rules (RBAC) for the kubeconfig's user"
    return None


def _timeout(text: str, timeout_seconds: int | None, waiting_for: str) -> str | None:
    low = text.lower()
    if not any(m in low for m in _TIMEOUT_MARKERS):
        return None
    match = _JOB_TIMEOUT.search(text)
    seconds = int(match.group(1)) if match else timeout_seconds
    waiting = _NOT_READY.search(text)
    if waiting and not waiting_for:
        kind, name, facts = waiting.groups()
        waiting_for = f"{kind} {name} to be ready ({facts.replace(' replicas ready', ' replicas')})"
    after = f" after {seconds} s" if seconds else ""
    return f"Timed out{after} waiting for {waiting_for or 'the release to be ready'}"


def _conflict(text: str) -> str | None:
    if "another operation (install/upgrade/rollback) is in progress" in text:
        return "Conflict: another Helm operation on this release is still in progress"
    owned = re.search(r'(\w+) "([^"]+)" in namespace "([^"]+)" exists and cannot be imported', text)
    if owned:
        kind, name, namespace = owned.groups()
        return f"Conflict: {kind} {name} already exists in namespace {namespace} and belongs to no release of it"
    if "the object has been modified" in text:
        return "Conflict: an object was changed by someone else at the same time; try again"
    if "already exists" in text:
        return "Conflict: " + _short(_ATOMIC.sub("", text.split("\n")[0]))
    return None


def _not_found(lines: list[str], low: str) -> str | None:
    if "not found" not in low and "404" not in low:
        return None
    line = next((line for line in lines if "not found" in line.lower() or "404" in line), lines[0])
    return "Not found: " + _short(_ATOMIC.sub("", line))


def explain(text: str, *, timeout_seconds: int | None = None, waiting_for: str = "") -> Failure:
    """Classify ``text`` (a job's, step's or deployment's error). ``timeout_seconds`` is Helm's ``--timeout``
    when the text does not say it; ``waiting_for`` names what was not ready ("Deployment llm (0/1 replicas)")."""
    raw = (text or "").strip()
    lines = _clean_lines(raw) or [raw]
    low = raw.lower()
    if low.startswith("cancelled"):
        return Failure(
            FailureKind.CANCELLED, "Cancelled: " + _short(lines[0].removeprefix("cancelled").strip(" :")), raw
        )
    checks: list[tuple[FailureKind, str | None]] = [
        (FailureKind.POLICY, _policy(raw)),
        (FailureKind.QUOTA, _quota(raw)),
        (FailureKind.SCHEMA, _schema(lines, raw)),
        (FailureKind.AUTH, _auth(low)),
        (FailureKind.UNREACHABLE, _unreachable(low)),
        (FailureKind.TIMEOUT, _timeout(raw, timeout_seconds, waiting_for)),
        (FailureKind.CONFLICT, _conflict(raw)),
        (FailureKind.NOT_FOUND, _not_found(lines, low)),
    ]
    for kind, cause in checks:
        if cause:
            return Failure(kind, _short(cause), raw)
    return Failure(FailureKind.OTHER, _short(_ATOMIC.sub("", lines[0])) if raw else "", raw)
