#!/usr/bin/env bash
# Footprint of spotify-auth's and rspotify's builds: crate counts, forbidden
# crates, and the wall time of clean release builds.
#
#   bash comparisons/rspotify/footprint.sh [RUNS]      (default RUNS=2)
#   FOOTPRINT_BUILDS="ours-blocking ours-async" bash ...  (a subset)
#
# Each build is a throwaway consumer crate in $FOOTPRINT_DIR (default
# /tmp/footprint) with one dependency and an empty lib, so every library is
# counted and built the same way a user would get it:
#
#   ours-blocking    spotify-auth (this repo), default-features = false, ["blocking"]
#   ours-async       spotify-auth (this repo), default-features = false, ["async"]
#   rspotify-blocking  rspotify =0.16.1, default-features = false, ["client-ureq", "ureq-rustls-tls"]
#   rspotify-async     rspotify =0.16.1, default-features = false, ["client-reqwest", "reqwest-rustls-tls"]
#   tls-ring         reqwest 0.13 ["rustls-no-provider"] + rustls 0.23 ["ring", "std", "tls12"] + tokio
#                    (what spotify-auth's async mode uses)
#   tls-aws-lc       reqwest 0.13 ["rustls"] (aws-lc-rs) + tokio
#
# Counted, per build (the consumer crate itself excluded):
#   graph     unique packages (name + version) in the normal dependency graph
#             for the host: `cargo tree -e normal --no-dedupe --prefix none`;
#   compiled  "Compiling" lines of the clean release build: every package
#             built, build-dependencies and proc-macros included.
# Timed: `cargo build --release` with a fresh CARGO_TARGET_DIR, sources
# already downloaded (cargo fetch first), RUNS times; `uptime` before each.
set -euo pipefail

RUNS=${1:-2}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${FOOTPRINT_DIR:-/tmp/footprint}
mkdir -p "$DIR"

deps_of() {
  case "$1" in
    ours-blocking) echo "spotify-auth = { path = \"$REPO\", default-features = false, features = [\"blocking\"] }" ;;
    ours-async) echo "spotify-auth = { path = \"$REPO\", default-features = false, features = [\"async\"] }" ;;
    rspotify-blocking) echo 'rspotify = { version = "=0.16.1", default-features = false, features = ["client-ureq", "ureq-rustls-tls"] }' ;;
    rspotify-async) echo 'rspotify = { version = "=0.16.1", default-features = false, features = ["client-reqwest", "reqwest-rustls-tls"] }' ;;
    tls-ring) printf '%s\n' \
      'reqwest = { version = "0.13", default-features = false, features = ["rustls-no-provider"] }' \
      'rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }' \
      'tokio = { version = "1.40", features = ["rt", "time", "sync"] }' ;;
    tls-aws-lc) printf '%s\n' \
      'reqwest = { version = "0.13", default-features = false, features = ["rustls"] }' \
      'tokio = { version = "1.40", features = ["rt", "time", "sync"] }' ;;
  esac
}

BUILDS=(${FOOTPRINT_BUILDS:-ours-blocking ours-async rspotify-blocking rspotify-async tls-ring tls-aws-lc})

for b in "${BUILDS[@]}"; do
  mkdir -p "$DIR/$b/src"
  printf '[package]\nname = "fp-%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n\n[dependencies]\n%s\n' \
    "$b" "$(deps_of "$b")" >"$DIR/$b/Cargo.toml"
  : >"$DIR/$b/src/lib.rs"
  (cd "$DIR/$b" && cargo fetch -q)
done

echo "# machine: $(nproc) CPUs, $(rustc -V)"
printf '%-18s %6s %9s  %s\n' build graph forbidden "crates that must not be there"
for b in "${BUILDS[@]}"; do
  list=$(cd "$DIR/$b" && cargo tree -e normal --no-dedupe --prefix none -f '{p}' |
    sed -e 's/ (proc-macro)//' -e 's/ (\*)//' -e 's/ (\/.*)//' | sort -u | grep -v "^fp-$b ")
  count=$(echo "$list" | wc -l)
  case "$b" in
    *blocking) forbidden='^(tokio|reqwest|hyper|hyper-util|futures-executor) ' ;;
    ours-async) forbidden='^ureq ' ;;
    *) forbidden='^$' ;;
  esac
  found=$(echo "$list" | grep -E "$forbidden" | cut -d' ' -f1 | tr '\n' ' ' || true)
  printf '%-18s %6s %9s  %s\n' "$b" "$count" "${found:+yes}" "${found:-none}"
done

echo
printf '%-18s %4s %8s %9s  %s\n' build run compiled seconds "load before (1/5/15 min)"
for run in $(seq 1 "$RUNS"); do
  for b in "${BUILDS[@]}"; do
    target="$DIR/target-$b-$run"
    rm -rf "$target"
    load=$(uptime | sed 's/.*load average: //')
    start=$(date +%s.%N)
    (cd "$DIR/$b" && CARGO_TARGET_DIR="$target" cargo build --release --offline 2>"$DIR/$b-$run.log")
    end=$(date +%s.%N)
    compiled=$(grep -c '^ *Compiling ' "$DIR/$b-$run.log")
    printf '%-18s %4s %8s %9.1f  %s\n' "$b" "$run" "$((compiled - 1))" "$(echo "$end - $start" | bc)" "$load"
    rm -rf "$target"
  done
done
