#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis on 127.0.0.1, for the production pass of scripts/test.sh (and for trying the
# production settings locally). Nothing outside DIR is touched: the system's own clusters are left alone.
#
#   scripts/services.sh start DIR   initdb + postgres and redis-server on free ports; writes DIR/env with
#                                   `export DATABASE_URL=... REDIS_URL=...`
#   scripts/services.sh stop DIR    stops both and removes DIR
#
# Exit status of `start`: 0 started, 3 not available here (not installed and not root: skip), else a failure.
set -euo pipefail

die() { echo "services: $*" >&2; exit 1; }
unavailable() { echo "services: $*" >&2; exit 3; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

find_initdb() {
  # Debian keeps the server binaries out of PATH, one directory per major version; take the newest.
  local found
  found=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && { echo "$found"; return; }
  command -v initdb || true
}

# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  local dir=$1 initdb bin port password
  initdb=$(find_initdb)
  [ -n "$initdb" ] || unavailable "PostgreSQL is not installed (Debian: apt-get install postgresql)"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user to run PostgreSQL as"
    chmod 755 "$dir"
  fi
  bin=$(dirname "$initdb")
  port=$(free_port)
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  mkdir -p "$dir/pg"
  printf '%s\n' "$password" >"$dir/pg/pwfile"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir/pg"
  as_pg_owner "$bin/initdb" -D "$dir/pg/data" -U budportal --pwfile="$dir/pg/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/pg/initdb.log" 2>&1 || { cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pg/pwfile"
  # A throwaway cluster: durability settings off make the suite's many small transactions cheap.
  as_pg_owner "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/pg -c max_connections=200 \
     -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
    || { cat "$dir/pg/server.log" >&2; die "postgres did not start"; }
  echo "$bin" >"$dir/pg/bindir"
  PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U budportal budportal
  echo "export DATABASE_URL=postgres://budportal:$password@127.0.0.1:$port/budportal" >>"$dir/env"
}

start_redis() {
  local dir=$1 port
  command -v redis-server >/dev/null || unavailable "Redis is not installed (Debian: apt-get install redis-server)"
  port=$(free_port)
  mkdir -p "$dir/redis"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --dir "$dir/redis" --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log"
  for _ in $(seq 50); do
    [ -s "$dir/redis/redis.pid" ] && redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null || { cat "$dir/redis/redis.log" >&2; die "redis did not start"; }
  echo "export REDIS_URL=redis://127.0.0.1:$port/0" >>"$dir/env"
}

stop_services() {
  local dir=$1
  [ -d "$dir" ] || return 0
  if [ -f "$dir/pg/bindir" ]; then
    as_pg_owner "$(cat "$dir/pg/bindir")/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -s "$dir/redis/redis.pid" ]; then
    local pid
    pid=$(cat "$dir/redis/redis.pid")
    kill "$pid" 2>/dev/null || true
    # Wait until it is gone, or it may still be writing into DIR while DIR is removed.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$dir"
}

command=${1:-}
dir=${2:-}
[ -n "$dir" ] || die "usage: $0 start|stop DIR"
case "$command" in
  start)
    mkdir -p "$dir"
    : >"$dir/env"
    # Whatever got started is stopped again when the other service fails.
    trap 'status=$?; [ $status = 0 ] || stop_services "$dir"; exit $status' EXIT
    start_postgres "$dir"
    start_redis "$dir"
    ;;
  stop) stop_services "$dir" ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
