"""Helm's version constraints (Masterminds semver: ``^1.2``, ``~1.2.3``, ``>=1.0 <2``, ``1.2.x``, ``a || b``)
checked with python-semver, which compares versions but has no range syntax of its own."""

from __future__ import annotations

import re

import semver

_TERM = re.compile(r"^(\^|~>|~|>=|<=|!=|>|<|=)?\s*v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?$")
_OP_SPACE = re.compile(r"(\^|~>|~|>=|<=|!=|>|<|=)\s+")
WILDCARDS = ("x", "X", "*")


def parse_version(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text.strip().removeprefix("v"))
    except (ValueError, TypeError):
        return None


def is_exact(constraint: str | None) -> bool:
    return bool(constraint) and parse_version(constraint or "") is not None


def _bounds(op: str, parts: list[int | None], pre: str) -> list[tuple[str, semver.Version]]:
    """The term as comparisons; ``parts`` are major/minor/patch with None where the term left it open."""
    given = [p for p in parts if p is not None]
    major, minor, patch = given + [0] * (3 - len(given))
    low = semver.Version(major, minor, patch, prerelease=pre[1:] if pre else None)
    if op in ("^",):
        level = next((i for i, p in enumerate(given) if p), len(given) - 1) if given else 0
    elif op in ("~", "~>"):
        level = min(len(given) - 1, 1) if given else 0
    elif op in ("", "=") and len(given) < 3:
        level = len(given) - 1  # "1.2" / "1.2.x": any 1.2.z
    else:
        return [(op or "==", low)] if op != "=" else [("==", low)]
    if level < 0:
        return []
    bump = (low.bump_major, low.bump_minor, low.bump_patch)[level]()
    return [(">=", low), ("<", bump.replace(prerelease=None))]


def _term_matches(term: str, version: semver.Version) -> bool:
    match = _TERM.match(term)
    if not match:
        raise ValueError(f"{term!r} is not a version constraint")
    op, *raw, pre = match.groups()
    parts: list[int | None] = []
    for item in raw:
        if item is None or item in WILDCARDS:
            break
        parts.append(int(item))
    if not parts and op in (None, "", "="):
        return not version.prerelease
    ops = {"==": "__eq__", "!=": "__ne__", ">": "__gt__", "<": "__lt__", ">=": "__ge__", "<=": "__le__"}
    return all(getattr(version, ops[o])(bound) for o, bound in _bounds(op or "", parts, pre or ""))


def matches(version: str, constraint: str | None) -> bool:
    """Whether ``version`` meets ``constraint`` (empty: any release, pre-releases only when asked for)."""
    parsed = parse_version(version)
    if parsed is None:
        return False
    if not constraint or constraint.strip() in ("", "*"):
        return not parsed.prerelease
    for alternative in constraint.split("||"):
        attached = _OP_SPACE.sub(r"\1", alternative)  # ">= 1.2" is one term
        terms = [t for t in re.split(r"[,\s]+", attached) if t]
        if parsed.prerelease and not any("-" in t for t in terms):
            continue  # Masterminds: a pre-release matches only a constraint that names one
        if terms and all(_term_matches(t, parsed) for t in terms):
            return True
    return False


def newest_matching(versions: list[str], constraint: str | None) -> str | None:
    candidates = {v: parsed for v in versions if matches(v, constraint) and (parsed := parse_version(v))}
    return max(candidates, key=candidates.__getitem__) if candidates else None


def newest_first(versions: list[str]) -> list[str]:
    """Distinct versions, the newest first; what does not parse goes last."""
    parsed = {v: parse_version(v) for v in set(versions)}
    good = sorted((v for v, p in parsed.items() if p), key=lambda v: parsed[v], reverse=True)  # type: ignore[arg-type,return-value]
    return good + sorted(v for v, p in parsed.items() if not p)
