#!/usr/bin/env bash
# Runs Fieldsync's whole test suite:
#   1. every Rust test in the workspace: unit tests, the pinned wire and document fixtures, the
#      storage conformance suite, and the end-to-end suite (a real server on a real socket, real
#      SQLite files, several devices);
#   2. the mobile bindings driven from Python and from Kotlin on the JVM against a real server,
#      the generated Swift checked for drift, and a check build for Android and iOS targets.
# It installs what it needs (JNA, the Kotlin compiler, the mobile Rust targets, a cross C
# compiler) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests"
cargo test --workspace --locked "$@"

echo "== Bindings"
bash scripts/test-bindings.sh
