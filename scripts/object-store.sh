# Sourced by the test scripts: `start_object_store` starts a throwaway S3-speaking server (moto's
# server from PyPI, installed on first use into target/tools) on a free port, creates the bucket
# `fieldsync-test`, and exports what the tests need to reach it: FIELDSYNC_TEST_BUCKET and the
# usual AWS_* variables. The server keeps objects in memory and is stopped when the script exits.

MOTO_VERSION=5.2.6

start_object_store() {
  local tools=${CARGO_TARGET_DIR:-$PWD/target}/tools
  local venv=$tools/moto-$MOTO_VERSION
  if [ ! -x "$venv/bin/moto_server" ]; then
    apt_install python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "moto[s3,server]==$MOTO_VERSION"
  fi
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MOTO_LOG=$(mktemp "${TMPDIR:-/tmp}/fieldsync-s3.XXXXXX")
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
  MOTO_PID=$!
  at_exit stop_object_store
  local endpoint="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null -X PUT "$endpoint/fieldsync-test" 2>/dev/null; then break; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then cat "$MOTO_LOG"; return 1; fi
    sleep 0.1
  done
  curl -fsS -o /dev/null "$endpoint/fieldsync-test" -I 2>/dev/null \
    || { echo "the S3 test server did not start:"; cat "$MOTO_LOG"; return 1; }
  export FIELDSYNC_TEST_BUCKET=s3://fieldsync-test
  export AWS_ENDPOINT_URL=$endpoint AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=fieldsync-test AWS_SECRET_ACCESS_KEY=fieldsync-test
  echo "S3 (moto $MOTO_VERSION) on port $port"
}

stop_object_store() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    rm -f "$MOTO_LOG"
    MOTO_PID=""
  fi
}
