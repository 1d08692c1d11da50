"""Redaction of secrets from text that users will see (Helm's error output, exception messages)."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[REDACTED]"
_PATTERNS = [
    # key=value / key: value for names that carry secrets (password=..., "token": "...", apiKey: ...).
    (
        re.compile(
            r"(?i)(\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|credentials?)[\w.-]*\"?\s*[=:]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;}\]]+)"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (re.compile(r"-----BEGIN [A-Z ]*-----.*?-----END [A-Z ]*-----", re.S), MASK),
    # Long base64 runs: certificate and key data, encoded kubeconfigs.
    (re.compile(r"[A-Za-z0-9+/]{60,}={0,2}"), MASK),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secret strings and anything shaped like a credential masked."""
    for secret in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
