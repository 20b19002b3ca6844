#!/usr/bin/env bash
# Runs Fieldsync's whole test suite:
#   1. the console's clock arithmetic under Node in several time zones;
#   2. every Rust test in the workspace: unit tests, the pinned wire and document fixtures, the
#      storage conformance suite on SQLite and on a throwaway PostgreSQL cluster, the blob
#      stores on a folder and on a throwaway S3-speaking server, notifications through a
#      throwaway SMTP server and a local webhook receiver, and the
#      end-to-end suite (a real server on a real socket, real SQLite files, several devices,
#      several server nodes on PostgreSQL), the dispatch console driven in headless Chromium
#      (every page checked with axe-core's accessibility rules),
#      and the signed service report in Chinese read back with poppler's tools;
#   3. the mobile bindings driven from Python and from Kotlin on the JVM against a real server,
#      the generated Swift checked for drift, and a check build for Android and iOS targets.
# It installs what it needs (PostgreSQL, moto's S3 server, aiosmtpd, Chromium, axe-core, a CJK font and
# poppler-utils, JNA, the Kotlin compiler, the mobile Rust targets, a cross C compiler) on
# first use. Browser screenshots and the rendered Chinese report are kept in
# target/test-artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/apt-install.sh
source scripts/apt-install.sh
if [ -z "${FIELDSYNC_CHROMIUM:-}" ]; then
  echo "== Chromium for the browser tests"
  apt_install chromium
fi

# The service report draws Chinese with the platform's CJK font (Android ships Noto Sans CJK;
# Debian's package is the same font); poppler's tools read the PDFs back.
echo "== CJK font and PDF tools for the report tests"
apt_install fonts-noto-cjk poppler-utils

# The console's clock arithmetic, under computers in several zones (Node's own test runner).
echo "== Console unit tests"
for zone in UTC Asia/Shanghai America/Los_Angeles; do
  (cd server/console && TZ=$zone node --test tests/)
done

# The storage conformance suite runs against PostgreSQL as well as SQLite.
echo "== PostgreSQL for the storage tests"
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
start_postgres

# Media on S3-compatible object storage is tested against a real S3-speaking server.
echo "== S3-compatible object storage for the media tests"
# shellcheck source=scripts/object-store.sh
source scripts/object-store.sh
start_object_store

# Notifications by e-mail are tested against a real SMTP server that keeps what it receives.
echo "== SMTP sink for the notification tests"
# shellcheck source=scripts/mail-sink.sh
source scripts/mail-sink.sh
start_mail_sink

# The browser tests check every console page with axe-core's accessibility rules.
echo "== axe-core for the accessibility check"
axe_dir=${CARGO_TARGET_DIR:-$PWD/target}/tools/axe
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$axe_dir"
  npm install --prefix "$axe_dir" --no-save --no-audit --no-fund --loglevel=error axe-core@4.14.1 >/dev/null
fi
export FIELDSYNC_AXE=$axe_dir/node_modules/axe-core/axe.min.js

echo "== Rust tests"
cargo test --workspace --locked "$@"

echo "== Bindings"
bash scripts/test-bindings.sh
