#!/usr/bin/env bash
# Every figure of docs/performance.md in one session: this crate's benches,
# the comparison with rspotify 0.16.1 (comparisons/rspotify, both modes), and
# the tables, which benches/tables.py writes into docs/performance.md and the
# README's Performance section (between their `run_all` markers).
#
#   bash benches/run_all.sh                 # 10-15 minutes on 2 cores, builds included
#   FOOTPRINT=1 bash benches/run_all.sh     # and footprint.sh 2 (10-20 minutes more)
#   ONLY="per_user cmp_async_per_user" bash benches/run_all.sh   # some steps
#
# Each step's output goes to OUT/STEP.log (OUT: target/perf/DATE-TIME, or
# $PERF_OUT), `uptime` before and after each step to OUT/load.txt, and the
# tables to OUT/tables.md too. Criterion's previous results are
# removed first, so the tables hold this session's figures only. With ONLY,
# the steps named are rerun into the latest session (OUT: the newest
# target/perf/*, or $PERF_OUT): the other steps' results are kept, the rerun
# is noted in OUT/session.txt and its load replaces the step's first one.
# Nothing asserts a timing. The machine is shared: compare the load column
# before trusting a figure, and rerun a step that ran under load.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${ONLY:-}" ] && [ -z "${PERF_OUT:-}" ]; then
  PERF_OUT=$(ls -td "$REPO"/target/perf/*/ 2>/dev/null | head -1)
  PERF_OUT=${PERF_OUT%/}
fi
OUT=${PERF_OUT:-$REPO/target/perf/$(date +%Y%m%d-%H%M%S)}
CMP=$REPO/comparisons/rspotify
mkdir -p "$OUT"

load() { # step when
  echo "$1 $2 $(date +%H:%M:%S) $(awk '{print $1, $2, $3}' /proc/loadavg)" >>"$OUT/load.txt"
}

# Before each step, up to SETTLE seconds (default 60) for the 1-minute load
# average to fall to 2 (the cores), so that a step does not inherit the
# previous one's threads; the load is recorded whatever it is.
settle() {
  local waited=0
  while [ "$waited" -lt "${SETTLE:-60}" ] && awk '{exit !($1 > 2.0)}' /proc/loadavg; do
    sleep 5
    waited=$((waited + 5))
  done
}

want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

step() { # name dir command...
  local name=$1 dir=$2
  shift 2
  want "$name" || return 0
  echo "== $name: (cd ${dir#"$REPO"/} && $*)" >&2
  settle
  load "$name" start
  (cd "$dir" && "$@") >"$OUT/$name.log" 2>"$OUT/$name.err" || {
    echo "   failed: see $OUT/$name.err" >&2
  }
  load "$name" end
}

commit() { echo "$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet || echo ' (with uncommitted changes)')"; }
if [ -n "${ONLY:-}" ] && [ -f "$OUT/session.txt" ]; then
  echo "rerun: $(date '+%Y-%m-%d %H:%M %Z'), commit $(commit), ONLY=\"$ONLY\" bash benches/run_all.sh" >>"$OUT/session.txt"
else
  {
    echo "date: $(date '+%Y-%m-%d %H:%M %Z')"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "toolchain: $(rustc -V), $(cargo -V)"
    echo "commit: $(commit)"
    echo "command: bash benches/run_all.sh${ONLY:+ (ONLY=$ONLY)}"
  } >"$OUT/session.txt"
fi

if [ -z "${ONLY:-}" ]; then
  rm -rf "$REPO/target/criterion" "$CMP/target/criterion"
fi

# Build first, so that no step's timing overlaps this session's own builds.
echo "== building the benches" >&2
(cd "$REPO" && cargo bench --features async --no-run --quiet) >&2
for mode in blocking async; do
  (cd "$CMP" && cargo bench --features "$mode" --no-run --quiet &&
    cargo build --release --features "$mode" --bins --quiet) >&2
done

# This crate (both modes in one build: `async` adds to the default `blocking`).
step hot_path "$REPO" cargo bench --features async --bench hot_path
step allocations "$REPO" cargo bench --features async --bench allocations
step per_user "$REPO" cargo bench --features async --bench per_user
step per_user_memory "$REPO" cargo bench --features async --bench per_user_memory
step refresh "$REPO" cargo bench --features async --bench refresh

# Beside rspotify: one mode per build.
for mode in blocking async; do
  step "cmp_${mode}_token" "$CMP" cargo bench --features "$mode" --bench token
  step "cmp_${mode}_allocations" "$CMP" cargo run --quiet --release --features "$mode" --bin allocations
  step "cmp_${mode}_per_user" "$CMP" cargo bench --features "$mode" --bench per_user
  step "cmp_${mode}_per_user_memory" "$CMP" cargo run --quiet --release --features "$mode" --bin per_user_memory
  step "cmp_${mode}_contention" "$CMP" cargo run --quiet --release --features "$mode" --bin contention
  step "cmp_${mode}_refresh_ahead" "$CMP" cargo run --quiet --release --features "$mode" --bin refresh_ahead -- "${ROUNDS:-3}"
done

# Last: its hundreds of threads raise the load average for minutes after.
step service_refresh "$REPO" cargo bench --features async --bench service_refresh

if [ -n "${FOOTPRINT:-}" ]; then
  step footprint "$REPO" bash comparisons/rspotify/footprint.sh 2
fi

python3 "$REPO/benches/tables.py" "$OUT" --write >"$OUT/tables.md"
echo "== tables in $OUT/tables.md; docs/performance.md and README.md rewritten" >&2
