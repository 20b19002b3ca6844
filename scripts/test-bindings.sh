#!/usr/bin/env bash
# Tests the uniffi bindings from the foreign languages. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
tools=$target/tools
generated=$target/bindings

# shellcheck source=scripts/apt-install.sh
source scripts/apt-install.sh

cargo build --locked -q -p fieldsync-bindings -p uniffi-bindgen -p fieldsync-server --bin uniffi-bindgen --bin fieldsync --lib
library=$target/debug/libfieldsync.so
bindgen=$target/debug/uniffi-bindgen
export FIELDSYNC_SERVER_BIN=$target/debug/fieldsync

echo "-- Python"
rm -rf "$generated/python"
"$bindgen" generate --no-format --library "$library" --language python --out-dir "$generated/python" >/dev/null
cp "$library" "$generated/python/"
RUST_BACKTRACE=0 PYTHONPATH=$generated/python python3 -m unittest discover -s bindings/tests/python -v

echo "-- Swift (generated sources must match bindings/swift)"
rm -rf "$generated/swift"
"$bindgen" generate --no-format --library "$library" --language swift --out-dir "$generated/swift" >/dev/null
if ! diff -r "$generated/swift" bindings/swift; then
  echo "The generated Swift bindings changed: run 'bash scripts/generate-swift.sh' and review the diff." >&2
  exit 1
fi
echo "swift: bindings up to date"

echo "-- Kotlin on the JVM"
apt_install libjna-java
kotlin_home=$tools/kotlin/node_modules/kotlin-compiler
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
  mkdir -p "$tools/kotlin"
  npm install --prefix "$tools/kotlin" --no-save --no-audit --no-fund --loglevel=error kotlin-compiler@2.4.20 >/dev/null
fi
rm -rf "$generated/kotlin"
"$bindgen" generate --no-format --library "$library" --language kotlin --out-dir "$generated/kotlin" >/dev/null
jar=$target/kotlin/installer-day.jar
mkdir -p "$(dirname "$jar")"
# A compile error must fail the run, never leave an older jar to be run.
rm -f "$jar"
"$kotlin_home/bin/kotlinc" -nowarn "$generated/kotlin/com/fieldsync/fieldsync.kt" bindings/tests/kotlin/InstallerDay.kt \
  -cp /usr/share/java/jna.jar -d "$jar" 2>&1 | grep -v '^warning' || true
[ -s "$jar" ] || { echo "kotlin: the test did not compile" >&2; exit 1; }
java -Djna.library.path="$target/debug" -cp "$jar:/usr/share/java/jna.jar:$kotlin_home/lib/kotlin-stdlib.jar" InstallerDayKt

echo "-- Mobile targets (check builds; linking needs the NDK or Xcode)"
rustup target add aarch64-linux-android aarch64-apple-ios >/dev/null 2>&1
apt_install gcc-aarch64-linux-gnu
# Android bundles SQLite and TLS (ring): their C compiles with an aarch64 cross compiler standing in
# for the NDK's.
CC_aarch64_linux_android=aarch64-linux-gnu-gcc AR_aarch64_linux_android=aarch64-linux-gnu-ar \
  cargo check --locked -q -p fieldsync-bindings --target aarch64-linux-android
# iOS links the SDK's SQLite. TLS (ring) is left out here: its C and assembly need Xcode's toolchain.
cargo check --locked -q -p fieldsync-bindings --no-default-features --target aarch64-apple-ios
echo "mobile targets: 2 passed, 0 failed"
