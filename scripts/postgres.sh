# Sourced by the test scripts: `start_postgres` starts a throwaway PostgreSQL cluster (Debian's
# `postgresql` package, installed on first use) in a temporary folder on a free port, exports
# FIELDSYNC_TEST_DATABASE_URL for the tests, and stops and deletes it when the script exits.
# For tests the cluster trades durability for speed (no fsync): it lives only as long as the
# run. `start_postgres durable` keeps PostgreSQL's defaults, for benchmarks.

start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-pg.XXXXXX")
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # PostgreSQL refuses to run as root: as root, the cluster belongs to the package's user.
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  PG_CTL=("${as[@]}" "$bin/pg_ctl")
  local speed="-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
  if [ "${1:-}" = durable ]; then speed=""; fi
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U fieldsync -A trust --encoding=UTF8 \
    --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; return 1; }
  "${PG_CTL[@]}" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w start \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 $speed" \
    >/dev/null || { cat "$PG_DIR/server.log"; return 1; }
  at_exit stop_postgres
  export FIELDSYNC_TEST_DATABASE_URL="postgres://fieldsync@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port"
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ]; then
    "${PG_CTL[@]}" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
  fi
}
