"""Errors that services raise and the API turns into HTTP answers.

Services never import django-ninja; the API layer maps these to 422 / 409 / 403 in one place.
"""

from collections.abc import Iterable, Sequence
from typing import Any

Loc = Sequence[str | int]


class ServiceValidationError(Exception):
    """Bad input. ``errors`` is a list of ``{"loc": [...], "msg": "..."}``, the shape of a 422 detail."""

    def __init__(self, errors: Iterable[dict[str, Any]] | str, loc: Loc = ()):
        if isinstance(errors, str):
            errors = [{"loc": list(loc), "msg": errors}]
        self.errors = [{"loc": list(e.get("loc", [])), "msg": str(e["msg"])} for e in errors]
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in self.errors))

    @classmethod
    def at(cls, loc: Loc, msg: str) -> "ServiceValidationError":
        return cls([{"loc": list(loc), "msg": msg}])


class ConflictError(Exception):
    """The object is in a state that does not allow the operation (HTTP 409)."""


class ForbiddenError(Exception):
    """The caller may see the object but not change it (HTTP 403), e.g. a system template."""


class Overloaded(Exception):
    """Too much work is queued; the caller should come back after ``retry_after`` seconds (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def dotted(loc: Loc) -> str:
    """``["a", "b", 0, "c"]`` → ``a.b[0].c``: the path users see in messages."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
