#!/usr/bin/env bash
# The fast checks, run before the tests (scripts/test.sh) and by `make lint` / pre-commit: formatting and lint
# (ruff, incl. import sorting and bugbear), the one-way layers between apps (import-linter) and types (mypy with
# django-stubs). Configuration for all four is in pyproject.toml. `make format` applies ruff's fixes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
status=0
step() {
  local started=$SECONDS
  if "$@"; then echo "lint.sh: ${*#"$bin"/} ok ($((SECONDS - started)) s)"; else echo "lint.sh: ${*#"$bin"/} FAILED" >&2; status=1; fi
}
step "$bin/ruff" format --check --quiet .
step "$bin/ruff" check --quiet .
step "$bin/lint-imports" --no-cache
step "$bin/mypy"
exit $status
