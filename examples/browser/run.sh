#!/usr/bin/env bash
# Builds the example page (examples/browser_app.rs to wasm32, then
# wasm-bindgen into examples/browser/pkg) and serves it at
# http://127.0.0.1:8000/ with a fake Spotify to log in with:
#
#   examples/browser/run.sh                        # a fake Spotify
#   examples/browser/run.sh --spotify CLIENT_ID    # Spotify (register http://127.0.0.1:8000/)
#   examples/browser/run.sh --port 8080 ...        # another port
#
# Needs `rustup target add wasm32-unknown-unknown` and wasm-bindgen-cli of the
# wasm-bindgen version in Cargo.lock (cargo install wasm-bindgen-cli --version X).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --example browser_app --target wasm32-unknown-unknown --no-default-features --features async
wasm-bindgen --target web --no-typescript --out-dir examples/browser/pkg \
  target/wasm32-unknown-unknown/debug/examples/browser_app.wasm
exec cargo run --example browser_fake -- --serve examples/browser "$@"
