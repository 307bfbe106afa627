#!/usr/bin/env bash
# Runs the side-by-side benchmarks (issue 6) in release mode, keeps the raw
# output in docs/bench-raw/<UTC date and time>.txt and regenerates
# docs/benchmarks.md from it.
#
#   scripts/bench.sh            # full run (about 10 minutes on 2 cores)
#   scripts/bench.sh RAW.txt    # only regenerate docs/benchmarks.md from RAW.txt
#
# The macro (scenario 8) and batch engine (scenario 9) benches run when their
# files exist and are noted as skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ge 1 ]; then
  python3 scripts/bench_report.py "$1" > docs/benchmarks.md
  echo "wrote docs/benchmarks.md from $1" >&2
  exit 0
fi

mkdir -p docs/bench-raw
stamp=$(date -u +%Y-%m-%dT%H%MZ)
raw="docs/bench-raw/$stamp.txt"

# Build every bench first so that compiling does not overlap measuring.
cargo bench -p bykilt-bench --no-run >&2
if [ -f crates/metrics-macros/benches/overhead.rs ]; then cargo bench -p metrics-macros --bench overhead --no-run >&2; fi
if [ -f crates/batch-engine/benches/engine.rs ]; then cargo bench -p batch-engine --bench engine --no-run >&2; fi
cargo bench -p metrics-api --bench healthz_under_scrapes --no-run >&2

# Two-thread results only show contention when both benchmark threads run at
# once; on a 2-core machine shared with builds they often do not. So the
# timed benches run at a raised priority when allowed (root), and the script
# first waits (up to BENCH_QUIET_WAIT seconds, default 60) for the 1-minute
# load to fall below 1.5.
priority=()
if nice -n -15 true 2>/dev/null; then
  priority=(nice -n -15)
fi
wait_for_quiet() {
  local waited=0 limit=${BENCH_QUIET_WAIT:-60}
  while awk '{ exit !($1 >= 1.5) }' /proc/loadavg && [ "$waited" -lt "$limit" ]; do
    [ "$waited" -eq 0 ] && echo "waiting up to ${limit}s for the machine to be quieter (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    sleep 10
    waited=$((waited + 10))
  done
}
wait_for_quiet

run() { # run LABEL PACKAGE BENCH FILE
  local label=$1 package=$2 bench=$3 file=$4
  if [ -f "$file" ]; then
    echo "### bench $label"
    "${priority[@]}" cargo bench -q -p "$package" --bench "$bench"
  else
    echo "### skipped $label: $file does not exist yet"
  fi
}

# Instructions per operation under callgrind (single thread, repeatable):
# two runs per pair with different operation counts; the difference cancels
# setup and process start.
instructions() {
  local bin
  bin=$(cargo bench -p bykilt-bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
  echo "### bench instructions"
  "$bin" list | while read -r scenario library; do
    local lo=20000 hi=120000
    case $scenario in s7_*) lo=1 hi=3 ;; esac
    local a b
    a=$(valgrind --tool=callgrind --toggle-collect='*run_ops*' --callgrind-out-file=/dev/null "$bin" run "$scenario" "$library" "$lo" 2>&1 | sed -n 's/.*Collected : //p')
    b=$(valgrind --tool=callgrind --toggle-collect='*run_ops*' --callgrind-out-file=/dev/null "$bin" run "$scenario" "$library" "$hi" 2>&1 | sed -n 's/.*Collected : //p')
    if [ -n "$a" ] && [ -n "$b" ]; then
      echo "instructions $scenario $library $(( (b - a) / (hi - lo) ))"
    else
      echo "instructions $scenario $library failed"
    fi
  done
}

{
  echo "machine.date: $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo "machine.nproc: $(nproc)"
  echo "machine.cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "machine.rustc: $(rustc --version)"
  echo "machine.commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "machine.load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-minute load average at start)"
  echo "machine.priority: ${priority[*]:-normal (nice -n -15 not permitted)}"
  # The peers bench is repeated (up to BENCH_PEERS_TRIES times, default 2)
  # while its raw atomic shows no contention at 2 threads (see above); the
  # discarded runs stay in the raw file.
  tries=${BENCH_PEERS_TRIES:-2}
  for try in $(seq 1 "$tries"); do
    peers_out=$(mktemp)
    "${priority[@]}" cargo bench -q -p bykilt-bench --bench peers > "$peers_out"
    scaling=$(python3 scripts/bench_report.py --contention "$peers_out")
    if [ "$try" -lt "$tries" ] && awk -v r="$scaling" 'BEGIN { exit !(r < 2.0) }'; then
      echo "### bench peers (discarded: raw atomic 2-thread/1-thread = $scaling, no contention)"
      cat "$peers_out"
      echo "peers run $try showed no contention (raw atomic x$scaling at 2 threads); running it again" >&2
      rm -f "$peers_out"
      continue
    fi
    echo "### bench peers"
    cat "$peers_out"
    rm -f "$peers_out"
    break
  done
  run clock bykilt-bench clock benches/benches/clock.rs
  run memory bykilt-bench memory benches/benches/memory.rs
  run macros metrics-macros overhead crates/metrics-macros/benches/overhead.rs
  run engine batch-engine engine crates/batch-engine/benches/engine.rs
  run http metrics-api healthz_under_scrapes crates/metrics-api/benches/healthz_under_scrapes.rs
  if command -v valgrind >/dev/null; then
    instructions
  else
    echo "### skipped instructions: valgrind is not installed (apt-get install valgrind)"
  fi
} | tee "$raw"

python3 scripts/bench_report.py "$raw" > docs/benchmarks.md
echo "raw output: $raw; report: docs/benchmarks.md" >&2
