#!/usr/bin/env bash
# Refresh-ahead latency, spotify-auth beside rspotify 0.16, both modes: every
# call timed while the token enters its refresh window (the token endpoint, a
# loopback FakeSpotify, answers in 100 ms), and with a token far from expiry
# (the machine's scheduling floor); 2 and 8 callers; ROUNDS rounds (default 3).
#
#   bash comparisons/rspotify/refresh_ahead.sh [ROUNDS]
#
# rspotify has one mode per build, so each mode is its own build and run:
# `cargo run --release --features blocking --bin refresh_ahead` (threads), then
# `--features async` (tasks on a 2-worker runtime). `uptime` is printed around
# each run: a loaded machine raises the floor and every tail. The method is in
# src/refresh_ahead.rs, the figures in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${1:-3}
for mode in blocking async; do
  cargo build --quiet --release --features "$mode" --bin refresh_ahead
  echo "uptime before $mode: $(uptime)"
  cargo run --quiet --release --features "$mode" --bin refresh_ahead -- "$ROUNDS"
  echo "uptime after $mode: $(uptime)"
done
