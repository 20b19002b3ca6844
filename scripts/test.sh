#!/usr/bin/env bash
# Runs Fieldsync's whole test suite: unit tests, the protocol fixtures, the storage conformance
# suite, and the end-to-end suite (a real server on a real socket, real SQLite files, several
# devices). Installs nothing beyond the Rust toolchain's own crates.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
