#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export HELM_BINARY="$PWD/.venv/bin/helm"
exec .venv/bin/python -m pytest "$@"
