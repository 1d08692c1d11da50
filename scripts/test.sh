#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the test suite twice:
#   1. embedded defaults: in-memory SQLite, django-q2 ORM broker, in-memory channel layer;
#   2. production: a throwaway PostgreSQL and Redis on 127.0.0.1 (scripts/services.sh), with DATABASE_URL and
#      REDIS_URL set, so the tests marked `production` (real qcluster workers on the Redis broker,
#      channels-redis) run too.
# Extra arguments go to pytest. With arguments only pass 1 runs, unless TEST_PRODUCTION=1 (both) or
# TEST_PRODUCTION=only; TEST_PRODUCTION=0 skips pass 2 of a full run. As root on Debian/Ubuntu, missing
# PostgreSQL, Redis and Chromium (browser tests) are always installed with apt-get first.
# Before the tests, scripts/lint.sh (ruff, import-linter, mypy) runs and fails fast; it runs on a full run, or
# with LINT=1 when arguments are given (LINT=0 skips it).
# A full run spreads each pass over TEST_WORKERS pytest-xdist processes (default 3: most tests wait on helm,
# subprocesses and sockets, not on the CPU), one test module per process at a time; then the tests marked
# `serial` (they restart the shared PostgreSQL/Redis) run alone. With arguments the tests run in one process,
# unless TEST_WORKERS is set. TEST_WORKERS=0 runs everything in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export HELM_BINARY="$PWD/.venv/bin/helm"

if [ $# = 0 ]; then production=${TEST_PRODUCTION:-1}; else production=${TEST_PRODUCTION:-0}; fi
if [ $# = 0 ]; then workers=${TEST_WORKERS:-3}; else workers=${TEST_WORKERS:-0}; fi
if [ $# = 0 ]; then lint=${LINT:-1}; else lint=${LINT:-0}; fi
if [ "$lint" != 0 ]; then
  printf '\n==== lint: ruff, import-linter, mypy ====\n'
  scripts/lint.sh
fi

missing_packages() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || echo postgresql
  command -v redis-server >/dev/null || echo redis-server
  [ -x /usr/bin/chromium ] || echo chromium
  command -v docker-registry >/dev/null || echo docker-registry  # the OCI chart registry tests
  command -v htpasswd >/dev/null || echo apache2-utils  # its bcrypt htpasswd for that registry's basic auth
}

install_missing_packages() {
  local missing
  missing=$(missing_packages | xargs)
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test.sh: not installing $missing (needs root and apt-get); tests that need them are skipped" >&2
    return 0
  fi
  echo "test.sh: apt-get install $missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

banner() { printf '\n==== %s ====\n' "$*"; }

# pytest with the given arguments: in parallel (pytest-xdist, the `serial` tests afterwards on their own), or in
# one process when workers=0.
run_pytest() {
  if [ "$workers" = 0 ]; then
    .venv/bin/python -m pytest --durations=15 "$@"
    return
  fi
  local status=0
  .venv/bin/python -m pytest -n "$workers" --dist loadscope --durations=15 "$@" -m "not serial" || status=$?
  # Exit status 5: no test selected (e.g. the arguments picked no serial test).
  .venv/bin/python -m pytest --durations=15 "$@" -m serial || { local s=$?; [ $s = 5 ] || status=$s; }
  return $status
}

install_missing_packages

status=0
if [ "$production" != only ]; then
  banner "pass 1/2: embedded defaults (SQLite, ORM broker, in-memory channel layer)"
  (unset DATABASE_URL REDIS_URL; run_pytest "$@") || status=$?
fi

if [ "$production" != 0 ]; then
  services=$(mktemp -d "${TMPDIR:-/tmp}/budportal-services.XXXXXX")
  trap 'scripts/services.sh stop "$services"' EXIT
  started=$SECONDS
  services_status=0
  scripts/services.sh start "$services" || services_status=$?
  if [ $services_status = 0 ]; then
    echo "test.sh: PostgreSQL and Redis ready in $((SECONDS - started)) s"
    banner "pass 2/2: production (PostgreSQL + Redis: channels-redis, django-q2 Redis broker)"
    # Tests that never read DATABASE_URL/REDIS_URL (helm against the stand-in, chart rendering, settings in
    # subprocesses with a clean environment) already ran in pass 1.
    same_in_both=(--ignore=tests/standin --ignore=tests/charts --ignore=tests/production/test_chart_install.py
                  --ignore=tests/production/test_check_deploy.py --ignore=tests/production/test_settings_switch.py)
    (. "$services/env"; run_pytest "${same_in_both[@]}" "$@") || status=$?
  elif [ $services_status = 3 ]; then
    banner "pass 2/2 SKIPPED: PostgreSQL/Redis are not available (see above); run as root, or install them"
  else
    echo "test.sh: could not start PostgreSQL/Redis" >&2
    status=1
  fi
fi
echo "test.sh: finished in $((SECONDS / 60)) min $((SECONDS % 60)) s (exit status $status)"
exit $status
