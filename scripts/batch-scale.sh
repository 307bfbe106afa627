#!/usr/bin/env bash
# Issue 10, item 14, at the CLI: a 1,000,000-row (~48 MB) CSV through
# `bykilt batch run --exec true`, killed with SIGKILL after a window, then
# `bykilt batch resume`. Prints each command's peak RSS (/usr/bin/time -v)
# and how long resume takes to open the batch (time to its first finished
# job). A benchmark, not a test; figures go to docs/benchmarks.md.
#
#   scripts/batch-scale.sh            # 30 s windows
#   WINDOW=600 scripts/batch-scale.sh # longer windows
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
WINDOW=${WINDOW:-30}
cargo build --release -q -p bykilt
BIN=${CARGO_TARGET_DIR:-target}/release/bykilt
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
awk -v n="$ROWS" 'BEGIN { print "id,name,city,note"; for (i = 0; i < n; i++) printf "%d,user%07d,city%04d,note-%012d-x\n", i, i, i % 997, (i * 2654435761) % 1000000000000 }' > "$WORK/big.csv"
echo "CSV: $(wc -c < "$WORK/big.csv") bytes, $ROWS rows"
python3 - "$BIN" "$WORK" "$WINDOW" <<'PY'
import os, re, signal, subprocess, sys, time
binary, work, window = sys.argv[1], sys.argv[2], float(sys.argv[3])
root = os.path.join(work, "artifacts")

def measure(args, label):
    t0 = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-v", binary, *args, "--artifacts-dir", root],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fd = p.stderr.fileno()
    os.set_blocking(fd, False)
    first_job = None
    tail = b""
    deadline = t0 + window
    while time.time() < deadline and p.poll() is None:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            chunk = b""
        tail = (tail + chunk)[-65536:]
        if first_job is None and re.search(rb"^\[1/", tail, re.M):
            first_job = time.time() - t0
        if not chunk:
            time.sleep(0.02)
    if p.poll() is None:
        # SIGKILL the CLI itself (the child of /usr/bin/time).
        for pid in os.popen(f"pgrep -P {p.pid}").read().split():
            os.kill(int(pid), signal.SIGKILL)
    os.set_blocking(fd, True)
    rest = (tail + p.stderr.read()).decode(errors="replace")
    p.wait()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", rest)
    rss_mb = int(rss.group(1)) / 1024 if rss else float("nan")
    print(f"{label:<7} peak RSS {rss_mb:7.1f} MB   first job finished after {first_job or float('nan'):.2f} s")

measure(["batch", "run", os.path.join(work, "big.csv"), "-j", "2", "--exec", "true"], "run")
run_id = sorted(os.listdir(os.path.join(root, "runs")))[0]
manifest = os.path.join(root, "runs", run_id, "batch", "batch_manifest.json")
print(f"manifest: {os.path.getsize(manifest) / 1e6:.1f} MB")
measure(["batch", "resume", run_id], "resume")
PY
