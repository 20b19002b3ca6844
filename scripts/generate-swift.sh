#!/usr/bin/env bash
# Regenerates the checked-in Swift bindings (bindings/swift) from the current library.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --locked -q -p fieldsync-bindings -p uniffi-bindgen --lib --bin uniffi-bindgen
rm -rf bindings/swift
"$target/debug/uniffi-bindgen" generate --no-format --library "$target/debug/libfieldsync.so" --language swift --out-dir bindings/swift
