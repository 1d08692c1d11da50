#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the portal: uvicorn (HTTP + SSE) and a django-q2 cluster.
#   PORT=8000  HOST=127.0.0.1  SANDBOX=1 (start the simulated sandbox cluster; 0 to skip)  WEB_PROCESSES=1
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PATH:$PWD/.venv/bin"   # a helm already on PATH wins over the pinned one
PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
PY=.venv/bin/python

# On a first run the data directory (SQLite file, collected static files, admin password) does not exist yet;
# SQLite would fail with "unable to open database file". SQLITE_PATH may point somewhere else again.
DATA_DIR="${BUDPORTAL_DATA_DIR:-var}"
mkdir -p "$DATA_DIR"
if [ -n "${SQLITE_PATH:-}" ]; then mkdir -p "$(dirname "$SQLITE_PATH")"; fi
# prometheus-client's multiprocess mode: the web processes and the qcluster workers write their samples here and /metrics
# (with METRICS_TOKEN set) reports them all. Emptied at every start: samples of a previous run's processes go.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$DATA_DIR/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
$PY manage.py migrate --noinput
$PY manage.py sync_templates
$PY manage.py collectstatic --noinput -v 0
$PY manage.py ensure_admin

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ "${SANDBOX:-1}" = 1 ] && $PY manage.py help sandbox_cluster >/dev/null 2>&1; then
  $PY manage.py sandbox_cluster &
  pids+=($!)
fi
DATABASE_CONN_MAX_AGE=60 $PY manage.py qcluster &
pids+=($!)
# django-q2 schedules run at most once a minute; this loop enforces timeouts and recovers the steps and jobs
# of dead workers every PIPELINE_SWEEP_SECONDS.
$PY manage.py pipeline_sweep --loop &
pids+=($!)
echo
echo "Bud Portal: http://$HOST:$PORT/   (API docs: http://$HOST:$PORT/api/docs)"
echo "Log in with the admin account printed above ($DATA_DIR/admin-password.txt). Ctrl-C stops everything."
echo
# WEB_PROCESSES (default 1) uvicorn processes share the port (budportal/serve.py). Browsers connect directly, so
# the server believes no X-Forwarded-For (--no-proxy-headers); behind a reverse proxy set TRUSTED_PROXIES instead.
$PY -m budportal.serve -b "$HOST" -p "$PORT" -n "${WEB_PROCESSES:-1}" &
pids+=($!)
wait -n "${pids[@]}"
