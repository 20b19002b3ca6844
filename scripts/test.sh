#!/usr/bin/env bash
# Runs Fieldsync's whole test suite:
#   1. every Rust test in the workspace: unit tests, the pinned wire and document fixtures, the
#      storage conformance suite, and the end-to-end suite (a real server on a real socket, real
#      SQLite files, several devices), and the dispatch console driven in headless Chromium;
#   2. the mobile bindings driven from Python and from Kotlin on the JVM against a real server,
#      the generated Swift checked for drift, and a check build for Android and iOS targets.
# It installs what it needs (Chromium, JNA, the Kotlin compiler, the mobile Rust targets, a
# cross C compiler) on first use. Browser screenshots are kept in target/test-artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/apt-install.sh
source scripts/apt-install.sh
if [ -z "${FIELDSYNC_CHROMIUM:-}" ]; then
  echo "== Chromium for the browser tests"
  apt_install chromium
fi

echo "== Rust tests"
cargo test --workspace --locked "$@"

echo "== Bindings"
bash scripts/test-bindings.sh
