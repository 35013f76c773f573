#!/usr/bin/env bash
# The browser tests (tests/browser.rs): spotify_auth::browser in headless
# Chromium, against FakeSpotify running natively on loopback. See README.md
# beside this file. Needs the wasm32-unknown-unknown target, chromium and
# chromedriver, and wasm-bindgen-test-runner of the wasm-bindgen version in
# Cargo.lock (.ci/run installs them). Extra arguments go to the test binary
# (a test name to filter on).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The harness: builds, then prints its URL on its first line.
cargo build --quiet --example browser_fake
log=$(mktemp)
./target/debug/examples/browser_fake >"$log" &
harness_pid=$!
trap 'kill "$harness_pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  [ -s "$log" ] && break
  sleep 0.1
done
SPOTIFY_AUTH_BROWSER_HARNESS=$(head -n1 "$log")
[ -n "$SPOTIFY_AUTH_BROWSER_HARNESS" ] || { echo "the harness did not start"; exit 1; }
export SPOTIFY_AUTH_BROWSER_HARNESS

export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-60}"
cargo test --target wasm32-unknown-unknown --no-default-features --features async \
  --test browser -- "$@"
