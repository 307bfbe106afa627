#!/usr/bin/env bash
# Instructions per record_metric with and without a store attached, under
# callgrind: two runs per mode with different operation counts, the
# difference divided by the difference in operations (setup cancels out).
# Usage: scripts/store-instructions.sh [path to the built store bench binary]
set -euo pipefail
bin=${1:-$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/store-* | grep -v '\.d$' | head -1)}
lo=20000
hi=120000
for mode in plain store; do
  a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" instructions "$mode" "$lo" 2>&1 | sed -n 's/.*Collected : //p')
  b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" instructions "$mode" "$hi" 2>&1 | sed -n 's/.*Collected : //p')
  echo "$mode $(( (b - a) / (hi - lo) )) instructions per record_metric"
done
