"""Ids on every log line: execution, step, deployment and job ids kept in structlog's context variables.

Task boundaries (``pipelines.tasks``, ``clusterjobs.tasks``) open a fresh context, because a django-q2 worker
runs one task after another in the same thread; deeper code adds what it learns (``notify`` binds the
execution, step and deployment ids as soon as it publishes for them). ``budportal.logging`` renders them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog


def bind_log_context(**ids: Any) -> None:
    """Add the given ids (None values are skipped) to every following log line of this task or request."""
    structlog.contextvars.bind_contextvars(**{k: str(v) for k, v in ids.items() if v not in (None, "")})


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """A task boundary: nothing bound by the previous task leaks into this one's lines, nor this one's out."""
    structlog.contextvars.clear_contextvars()
    bind_log_context(**ids)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
