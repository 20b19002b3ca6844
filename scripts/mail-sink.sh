# Sourced by the test scripts: `start_mail_sink` starts a throwaway SMTP server (aiosmtpd from
# PyPI, installed on first use into target/tools) on a free port that keeps every message it
# receives in a Maildir, and exports what the tests need to reach it: FIELDSYNC_TEST_SMTP (its
# smtp:// address) and FIELDSYNC_TEST_MAILDIR. It is stopped and the Maildir deleted when the
# script exits.

AIOSMTPD_VERSION=1.4.6

start_mail_sink() {
  local tools=${CARGO_TARGET_DIR:-$PWD/target}/tools
  local venv=$tools/aiosmtpd-$AIOSMTPD_VERSION
  if [ ! -x "$venv/bin/aiosmtpd" ]; then
    apt_install python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "aiosmtpd==$AIOSMTPD_VERSION"
  fi
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MAIL_SINK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-mail.XXXXXX")
  MAIL_SINK_LOG=$MAIL_SINK_DIR.log
  "$venv/bin/aiosmtpd" -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$MAIL_SINK_DIR/inbox" \
    >"$MAIL_SINK_LOG" 2>&1 &
  MAIL_SINK_PID=$!
  at_exit stop_mail_sink
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then break; fi
    if ! kill -0 "$MAIL_SINK_PID" 2>/dev/null; then cat "$MAIL_SINK_LOG"; return 1; fi
    sleep 0.1
  done
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null \
    || { echo "the SMTP sink did not start:"; cat "$MAIL_SINK_LOG"; return 1; }
  export FIELDSYNC_TEST_SMTP=smtp://127.0.0.1:$port FIELDSYNC_TEST_MAILDIR=$MAIL_SINK_DIR/inbox
  echo "SMTP sink (aiosmtpd $AIOSMTPD_VERSION) on port $port"
}

stop_mail_sink() {
  if [ -n "${MAIL_SINK_PID:-}" ]; then
    kill "$MAIL_SINK_PID" 2>/dev/null || true
    wait "$MAIL_SINK_PID" 2>/dev/null || true
    rm -rf "$MAIL_SINK_DIR" "$MAIL_SINK_LOG"
    MAIL_SINK_PID=""
  fi
}
