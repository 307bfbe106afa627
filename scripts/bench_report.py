#!/usr/bin/env python3
"""Turns the raw output of scripts/bench.sh into docs/benchmarks.md.

Usage: bench_report.py RAW.txt > docs/benchmarks.md

The raw file holds `machine.<key>: <value>` lines, then one section per bench
binary, opened by `### bench <label>` (or `### skipped <label>: why`). The
`peers`, `macros` and `engine` sections are divan tree output; `memory` holds
`memory <what> <library> <value>` lines. Python 3 standard library only.
"""

import re
import os
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TREE_CHARS = set("│├╰─ ")
UNITS_NS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
TIME = re.compile(r"^([0-9.]+)\s*(ps|ns|µs|μs|us|ms|s)$")
CRITERION = re.compile(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]")
SCENARIO = re.compile(r"^s(\d+)([a-z]?)_")

PEERS = ["measured", "measured_sparse", "prometheus", "prometheus_client", "metrics"]
LIBRARY_NOTES = {
    "ours": "metrics-core (this workspace)",
    "raw_atomic": "raw `AtomicU64::fetch_add` (floor)",
    "measured": "measured 0.0.25, dense fixed-cardinality label set",
    "measured_sparse": "measured 0.0.25, sparse (hashed) label set",
    "prometheus": "prometheus 0.14 (no protobuf)",
    "prometheus_client": "prometheus-client 0.26",
    "metrics": "metrics 0.24 + metrics-exporter-prometheus 0.18 recorder (metrics-util registry)",
}


def to_ns(text):
    m = TIME.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * UNITS_NS[m.group(2)]


def fmt_ns(ns):
    if ns is None:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}x"


def split_sections(raw):
    machine, sections, skipped = {}, {}, []
    current = None
    for line in raw.splitlines():
        line = ANSI.sub("", line).rstrip()
        if line.startswith("machine.") and ":" in line and current is None:
            key, value = line.split(":", 1)
            machine[key[len("machine."):]] = value.strip()
        elif line.startswith("### bench "):
            current = line[len("### bench "):].strip()
            sections[current] = []
        elif line.startswith("### skipped "):
            skipped.append(line[len("### skipped "):].strip())
            current = None
        elif current is not None:
            sections[current].append(line)
    return machine, sections, skipped


def parse_divan(lines):
    """Leaves of a divan tree: {path tuple: {"median": ns, "mean": ns, ...}}."""
    results, stack = {}, []
    for line in lines:
        if "fastest" in line and "median" in line:
            stack = []
            continue
        i = 0
        while i < len(line) and line[i] in TREE_CHARS:
            i += 1
        prefix, rest = line[:i], line[i:]
        if not rest or not prefix or "│" not in rest:
            continue
        depth = len(prefix) // 3
        cols = [c.strip() for c in rest.split("│")]
        m = re.match(r"^(\S+)(?:\s{2,}(.*))?$", cols[0])
        if not m:
            continue
        name = m.group(1)
        stack = stack[: depth - 1] + [name]
        if len(cols) >= 4 and cols[2]:
            results[tuple(stack)] = {
                "fastest": to_ns(m.group(2) or ""),
                "slowest": to_ns(cols[1]),
                "median": to_ns(cols[2]),
                "mean": to_ns(cols[3]),
                "samples": cols[4] if len(cols) > 4 else "",
            }
    return results


def parse_criterion(lines):
    results = {}
    for line in lines:
        m = CRITERION.match(line.strip())
        if m:
            results[tuple(m.group(1).split("/"))] = {"median": to_ns(m.group(2) + " " + m.group(3))}
    return results


def by_scenario(results):
    """{scenario: {library: {variant: median_ns}}} from divan leaves."""
    table = {}
    for path, row in results.items():
        for j, part in enumerate(path):
            if SCENARIO.match(part) and j + 1 < len(path):
                library, variant = path[j + 1], " ".join(path[j + 2:])
                table.setdefault(part, {}).setdefault(library, {})[variant] = row["median"]
                break
    return table


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


class Targets:
    """Every target check, in order, for the summary table."""

    def __init__(self):
        self.rows = []

    def check(self, scenario, what, value, limit, shown=None):
        met = None if value is None else value <= limit
        verdict = "–" if met is None else ("met" if met else "**missed**")
        self.rows.append((scenario, what, shown or fmt_ratio(value), verdict))
        return verdict


def variants_of(libs):
    seen = []
    for per in libs.values():
        for v in per:
            if v not in seen:
                seen.append(v)
    return sorted(seen, key=lambda v: (len(v), v))


def scenario_table(out, name, libs, target_for):
    """Median of every library per variant, and ours / peer with targets."""
    variants = variants_of(libs)
    ours = libs.get("ours", {})
    out.append(f"| library | {' | '.join(v or 'median' for v in variants)} | "
               + " | ".join(f"ours / lib ({v})" if v else "ours / lib" for v in variants) + " |")
    out.append("|---" * (1 + 2 * len(variants)) + "|")
    order = ["ours", "raw_atomic"] + PEERS + sorted(k for k in libs if k not in PEERS + ["ours", "raw_atomic"])
    for lib in order:
        if lib not in libs:
            continue
        medians = [fmt_ns(libs[lib].get(v)) for v in variants]
        ratios = []
        for v in variants:
            if lib == "ours":
                ratios.append("–")
                continue
            r = ratio(ours.get(v), libs[lib].get(v))
            cell = fmt_ratio(r)
            verdict = target_for(lib, v, r)
            if verdict:
                cell += f" ({verdict})"
            ratios.append(cell)
        out.append(f"| {lib} | {' | '.join(medians)} | {' | '.join(ratios)} |")
    out.append("")


def macro_overhead(results, targets):
    """Pairs each instrumented benchmark with the hand-written one beside it:
    a path component containing `hand` marks hand-written timing; one
    containing `attribute`, `macro` or `instrumented` (and not `memory`,
    which measures something else) marks a macro-instrumented call."""
    def split(path, words, unless=()):
        for j, part in enumerate(path):
            if any(w in part for w in words) and not any(u in part for u in unless):
                return path[:j] + path[j + 1:]
        return None

    hand, macro = {}, []
    for path, row in results.items():
        key = split(path, ("hand",))
        if key is not None:
            hand[key] = (path, row["median"])
            continue
        key = split(path, ("attribute", "macro", "instrumented"), ("memory",))
        if key is not None:
            macro.append((key, path, row["median"]))
    lines = []
    for key, mp, mv in macro:
        if key not in hand:
            continue
        hp, hv = hand[key]
        r = ratio(mv, hv)
        verdict = targets.check("8", f"{'/'.join(mp)} ≤ 1.2x {'/'.join(hp)}", r, 1.2)
        lines.append(f"- {'/'.join(mp)} / {'/'.join(hp)}: {fmt_ratio(r)} ({verdict})")
    if not lines:
        lines.append("_No pair of hand-written and instrumented benchmarks found by name._")
    return lines


def per_job(results):
    """Per-row cost of batch runs whose variant is a row count."""
    lines = []
    for path, row in results.items():
        if len(path) >= 2 and path[-1].replace("_", "").isdigit() and "noop" in path[-2]:
            rows = int(path[-1].replace("_", ""))
            if row["median"] is not None and rows:
                lines.append(f"- {'/'.join(path)}: {fmt_ns(row['median'] / rows)} per job ({rows:,} rows)")
    return lines


def instruction_tables(lines, skipped):
    """Instructions per operation from callgrind, ours / each library."""
    out = ["## Instructions per operation (callgrind, 1 thread)\n"]
    if lines is None:
        why = [s for s in skipped if s.startswith("instructions")]
        out.append(f"_Skipped: {why[0].split(':', 1)[1].strip() if why else 'not in this run'}._\n")
        return out
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "instructions" and parts[3].lstrip("-").isdigit():
            counts.setdefault(parts[1], {})[parts[2]] = int(parts[3])
    out.append("Instructions retired per operation at 1 thread, counted by callgrind (the same inputs as above; "
               "scenario 7 counts one whole encode of the 10,000 or 100,000 series its name gives). Unlike times, these repeat exactly from run "
               "to run on a busy machine; they do not show contention, cache misses or the cost of a clock read "
               "(a vDSO call counts its instructions only).\n")
    out.append("| scenario | library | instructions / op | ours / lib |")
    out.append("|---|---|---|---|")
    for scenario, libs in counts.items():
        ours = libs.get("ours")
        for lib, n in libs.items():
            r = "–" if lib == "ours" else fmt_ratio(ratio(ours, n))
            out.append(f"| {scenario} | {lib} | {n:,} | {r} |")
    out.append("")
    return out


def http_section(lines, targets):
    """Scenario 10: /healthz latency during 30 scrapes of 100k series (issue 11, item 9)."""
    setup, servers = {}, {}
    for line in lines or []:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "http":
            if parts[1] == "setup":
                setup[parts[2]] = parts[3]
            else:
                servers.setdefault(parts[1], {})[parts[2]] = float(parts[3])
    out = ["### 10. HTTP server: `/healthz` while 30 scrapes of 100k series run\n"]
    if not servers:
        out.append("_Not in this run._\n")
        return out
    when = setup.get("unix_time")
    if when:
        import datetime
        when = datetime.datetime.fromtimestamp(int(when), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.append(
        f"`crates/metrics-api/benches/healthz_under_scrapes.rs`, release build, {setup.get('series', '?')} counter "
        f"series ({int(setup.get('body_bytes', 0)) / 1e6:.1f} MB of Prometheus text; one encoding took "
        f"{setup.get('one_encode_ms', '?')} ms in this run). {setup.get('rounds', '?')} rounds: "
        f"{setup.get('scrapers', '?')} clients send one `/metrics` request each at the same moment, and one more "
        "client asks `/healthz` every 10 ms until every scrape is answered; rounds are 1.5 s apart, so each one "
        "starts with the 1 s cache expired. The scrapers stand for Prometheus servers on other hosts: "
        + ("one `curl --parallel` process per round" if setup.get("scraper_client") == "curl"
           else "threads of the bench (ureq)")
        + f" at nice {setup.get('scraper_nice', '?')}"
        + ". The `/healthz` prober is "
        + {"own_session": "the bench binary run again in a session of its own (`setsid`), as a health checker on "
                          "another host would be: Linux schedules each session as a group (autogroup), so on a "
                          "loaded machine the prober's own waits for a CPU are not counted against the server",
           "own_process": "the bench binary run again as a process of its own",
           "in_process": "a thread of the bench process"}.get(setup.get("probe"), "a thread of the bench process")
        + ". `main_design` is the server before issue 11 (`axum::serve`, "
        "`/metrics` encoded in the handler on the runtime's only thread), rebuilt in the bench and run in the same "
        "process, 2 rounds. Measured "
        f"{when or 'at an unknown time'}, 1-minute load {setup.get('load1', '?')} at start on this 2-core machine "
        "(other builds running).\n")
    out.append("| server | /healthz answers | p50 | p95 | p99 | slowest | failed | mean scrape |")
    out.append("|---|---|---|---|---|---|---|---|")
    for name, m in servers.items():
        def ms(key):
            v = m.get(key)
            return "–" if v is None else f"{v:,.1f} ms" if v >= 10 else f"{v:.2f} ms"
        out.append(f"| {name} | {int(m.get('healthz_answers', 0))} | {ms('healthz_p50_ms')} | {ms('healthz_p95_ms')} "
                   f"| {ms('healthz_p99_ms')} | {ms('healthz_max_ms')} | {int(m.get('healthz_errors', 0))} "
                   f"| {ms('scrape_mean_ms')} |")
    out.append("")
    ours = servers.get("default", {})
    for key, what in (("healthz_p50_ms", "median"), ("healthz_p95_ms", "p95"), ("healthz_p99_ms", "p99"),
                      ("healthz_max_ms", "slowest")):
        v = ours.get(key)
        targets.check("10", f"/healthz during 30 scrapes of 100k series, {what} answer: ≤ 50 ms (issue 11)",
                      v, 50.0, shown=None if v is None else f"{v:,.1f} ms")
    old = servers.get("main_design", {})
    # Medians hide the old design's stall (most probes land after its scrapes finish): compare the tail.
    for key, what in (("healthz_p95_ms", "p95"), ("healthz_p99_ms", "p99"), ("healthz_max_ms", "slowest")):
        r = ratio(ours.get(key), old.get(key))
        if r:
            out.append(f"- {what} `/healthz`: default {ours[key]:,.1f} ms, main_design {old[key]:,.1f} ms "
                       f"(default / main_design = {r:.4f}, {1 / r:,.0f}x shorter)")
    out.append("")
    return out


def contention(lines):
    """The raw atomic's 2-thread / 1-thread median in one peers run: well
    above 1 when the two benchmark threads really ran at the same time."""
    s1 = by_scenario(parse_divan(lines)).get("s1_counter_handle", {}).get("raw_atomic", {})
    return ratio(s1.get("t=2"), s1.get("t=1"))


def issue18_section(peers, clock_lines, targets):
    """Issue 18's targets side by side from one run: typed families against
    measured's dense label groups, string tags against its sparse ones, the
    timer against the best peer, record_metric against our scenario 2, and
    the clocks."""
    out = ["### Issue 18: typed label sets and the clock\n"]
    s2 = peers.get("s2_label_lookup_counter", {})
    s3b = peers.get("s3b_histogram_label_lookup", {})
    s4 = peers.get("s4_timer", {})
    s5 = peers.get("s5_record_metric", {}).get("ours", {})
    if not (s2 or s3b or s4):
        out.append("_Not in this run._\n")
        return out
    out.append("Medians of this run. `ours_typed` is `#[derive(LabelSet)] ErrorLabels { kind: ErrorKind, route: &str }` "
               "(the route found by its bytes in the family's lock-free table), `ours_typed_interned` is `ErrorInterned { "
               "kind, route: Interned }` (the route interned once, keyed by its integer id), `ours_typed_dense` is `ErrorDense { "
               "kind, route: Route }` (both enums: a dense index), `ours` is string tags (`increment_counter` / "
               "`observe_histogram`). Timers read the calibrated TSC (`metrics_core::clock`).\n")
    out.append("| scenario | target | t=1 | t=2 | ratio t=1 | ratio t=2 |")
    out.append("|---|---|---|---|---|---|")

    def row(scenario, label, a, b, limit, threads=("t=1", "t=2")):
        cells = [fmt_ns(a.get("t=1")) + " / " + fmt_ns(b.get("t=1")), fmt_ns(a.get("t=2")) + " / " + fmt_ns(b.get("t=2"))]
        ratios = []
        for v in ("t=1", "t=2"):
            r = ratio(a.get(v), b.get(v))
            if v in threads:
                ratios.append(f"{fmt_ratio(r)} ({targets.check(scenario, f'{label}, {v}', r, limit)})")
            else:
                ratios.append(fmt_ratio(r))
        out.append(f"| {scenario} | {label} | " + " | ".join(cells + ratios) + " |")

    for sc, data in (("2", s2), ("3b", s3b)):
        dense = data.get("measured", {})
        for lib in ("ours_typed", "ours_typed_interned", "ours_typed_dense"):
            if lib in data and dense:
                row(sc, f"{lib} ≤ 1.0x measured (dense)", data[lib], dense, 1.0)
    if "ours" in s2 and "measured_sparse" in s2:
        row("2", "string tags ≤ 1.0x measured_sparse", s2["ours"], s2["measured_sparse"], 1.0)
    if "ours" in s3b and "measured_sparse" in s3b:
        row("3b", "string tags ≤ 1.0x measured_sparse", s3b["ours"], s3b["measured_sparse"], 1.0)
    if "ours" in s4:
        best = {}
        for v in ("t=1", "t=2"):
            best[v] = min((libs[v] for lib, libs in s4.items() if not lib.startswith("ours") and libs.get(v)),
                          default=None)
        row("4", "timer ≤ 0.7x the best peer", s4["ours"], best, 0.7)
    if s5 and "ours" in s2:
        row("5", "record_metric ≤ 1.5x our scenario 2", s5, s2["ours"], 1.5, threads=("t=1",))
    out.append("")
    out.append("Each cell is ours / theirs in ns. Scenario 4's \"theirs\" is the fastest peer at that thread count.\n")
    clock = parse_divan(clock_lines) if clock_lines else {}
    if clock:
        out.append("Clocks (`cargo bench -p bykilt-bench --bench clock`, same run): a start + elapsed pair, or one "
                   "wall-clock read.\n")
        out.append("| clock | t=1 | t=2 |")
        out.append("|---|---|---|")
        rows = {}
        for path, r in clock.items():
            if len(path) >= 2:
                rows.setdefault(" / ".join(path[:-1]), {})[path[-1]] = r["median"]
        for name, per in rows.items():
            out.append(f"| {name} | {fmt_ns(per.get('t=1'))} | {fmt_ns(per.get('t=2'))} |")
        out.append("")
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--issue18":
        with open(sys.argv[2], encoding="utf-8") as f:
            _, sections, _ = split_sections(f.read())
        peers = by_scenario(parse_divan(sections.get("peers", [])))
        targets = Targets()
        body = issue18_section(peers, sections.get("clock", []), targets)
        sys.stdout.write("\n".join(body) + "\n")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--contention":
        with open(sys.argv[2], encoding="utf-8") as f:
            r = contention(f.read().splitlines())
        print("0" if r is None else f"{r:.2f}")
        return
    if len(sys.argv) != 2:
        sys.exit("usage: bench_report.py RAW.txt | bench_report.py --contention PEERS_OUTPUT.txt")
    raw_path = sys.argv[1]
    with open(raw_path, encoding="utf-8") as f:
        machine, sections, skipped = split_sections(f.read())
    peers = by_scenario(parse_divan(sections.get("peers", [])))
    discarded = [label for label in sections if label.startswith("peers (discarded")]
    targets = Targets()
    body = []
    contention_warning = []

    def section(title, key, intro, target_for):
        body.append(f"### {title}\n")
        body.append(intro + "\n")
        if key in peers:
            scenario_table(body, key, peers[key], target_for)
        else:
            body.append("_Not in this run._\n")

    none = lambda lib, v, r: None  # noqa: E731

    # 1
    s1 = peers.get("s1_counter_handle", {})
    o1 = s1.get("ours", {})

    def t1(lib, v, r):
        if v == "t=1" and lib == "raw_atomic":
            return targets.check("1", "handle increment, 1 thread: ≤ 1.3x raw atomic", r, 1.3)
        if v == "t=1" and lib in PEERS:
            return targets.check("1", f"handle increment, 1 thread: ≤ 1.0x {lib}", r, 1.0)
        return None

    section("1. Cached-handle counter increment", "s1_counter_handle",
            "One counter resolved once, `increment(1)` from every thread on the same series. "
            "Targets: at 1 thread ≤ 1.3x the raw atomic and ≤ 1.0x every peer; at 2 threads ≤ 2x our own 1-thread cost.", t1)
    r = ratio(o1.get("t=2"), o1.get("t=1"))
    verdict = targets.check("1", "handle increment: ours at 2 threads ≤ 2x ours at 1 thread", r, 2.0)
    body.append(f"Ours at 2 threads / ours at 1 thread: {fmt_ratio(r)} ({verdict}).\n")
    scaling = [(lib, ratio(s1[lib].get("t=2"), s1[lib].get("t=1"))) for lib in ["ours", "raw_atomic"] + PEERS if lib in s1]
    if scaling:
        body.append("Cost at 2 threads / cost at 1 thread, per library: "
                    + ", ".join(f"{lib} {fmt_ratio(x)}" for lib, x in scaling) + ".\n")
    raw_scaling = dict(scaling).get("raw_atomic")
    if raw_scaling is not None and raw_scaling < 2.0:
        contention_warning.append(
            f"In this run the raw atomic at 2 threads cost only {fmt_ratio(raw_scaling)} its 1-thread cost: the two "
            "benchmark threads mostly did not run at the same time (the machine was busy with other work), so the "
            "2-thread numbers of this run do not show contention. Re-run on an idle machine (or as root, so that "
            "`scripts/bench.sh` can raise the benchmark's priority) for contention results.")

    # 2, 3
    def lookup_targets(scenario, what):
        def t(lib, v, r):
            if v != "t=2":
                return None
            if lib == "measured_sparse":
                return targets.check(scenario, f"{what}, 2 threads: ≤ 1.0x measured (sparse, comparable mode)", r, 1.0)
            if lib == "metrics":
                return targets.check(scenario, f"{what}, 2 threads: ≥ 3x faster than metrics (ratio ≤ 0.33)", r, 1 / 3)
            return None
        return t

    section("2. Label lookup + counter increment (2 labels, 18 groups)", "s2_label_lookup_counter",
            "A random (kind, route) group of 6 x 3 per iteration, drawn outside the timed region; ours is "
            "`increment_counter(name, &[(\"kind\", k), (\"route\", r)], 1)` with string tags and no handle. "
            "Target at 2 threads: ≤ 1.0x measured's comparable (sparse, hashed) mode, and ≥ 3x faster than metrics. "
            "measured's dense mode maps typed labels to an array index; we offer no typed labels, so it is shown for "
            "reference without a target.", lookup_targets("2", "label lookup + increment"))

    def t3(lib, v, r):
        if v != "t=2":
            return None
        if lib == "measured":
            return targets.check("3", "histogram handle, 2 threads: ≤ 1.0x measured", r, 1.0)
        if lib == "metrics":
            return targets.check("3", "histogram handle, 2 threads: ≥ 3x faster than metrics (ratio ≤ 0.33)", r, 1 / 3)
        return None

    section("3. Histogram observe through a handle", "s3_histogram_handle",
            "One histogram (8 exponential buckets from 0.001, every library), a random value in [0, 1) per "
            "iteration drawn outside the timed region.", t3)
    section("3b. Histogram observe with the 18-group label lookup", "s3b_histogram_label_lookup",
            "As scenario 2, observing a random value; ours is `observe_histogram(name, tags, v)`.",
            lookup_targets("3", "histogram lookup + observe"))

    # 4
    s4 = peers.get("s4_timer", {})
    best4 = min((libs["t=2"] for lib, libs in s4.items() if not lib.startswith("ours") and libs.get("t=2")),
                default=None)
    section("4. Timer: start + stop + record, one series", "s4_timer",
            "Start a timer, stop it at once, record the elapsed seconds into one histogram, from every thread. "
            "Clock-bound: two clock reads dominate; ours read the calibrated TSC (`metrics_core::clock`, issue 18), "
            "the peers `std::time::Instant`. `ours` drops the guard of `Timer::start`; "
            "`ours_record_elapsed` reads `Instant` by hand and calls `Timer::record`, as the prometheus-client and "
            "metrics cases do. Target at 2 threads: no slower than the best peer (issue 18: ≤ 0.7x at 1 and 2 "
            "threads, in its own table below).", none)
    r = ratio(s4.get("ours", {}).get("t=2"), best4)
    verdict = targets.check("4", "timer, 2 threads: ≤ 1.0x the best peer", r, 1.0)
    body.append(f"Ours / best peer at 2 threads: {fmt_ratio(r)} ({verdict}).\n")

    # 5
    body.append("### 5. `record_metric` with 2 tags, sample kept\n")
    body.append("Our event path: lookup of a random group of scenario 2, aggregate update, clock read and a "
                "timestamped sample pushed into the series' ring (filled to its cap first, so each push also drops "
                "the oldest). The peers keep no samples; their scenario-2 medians are the comparison. "
                "Target: ≤ 3x our own scenario 2.\n")
    s5 = peers.get("s5_record_metric", {}).get("ours", {})
    s2 = peers.get("s2_label_lookup_counter", {})
    if s5:
        vs = sorted(s5)
        body.append("| compared with | " + " | ".join(vs) + " | " + " | ".join(f"ratio ({v})" for v in vs) + " |")
        body.append("|---" * (1 + 2 * len(vs)) + "|")
        body.append("| ours `record_metric` | " + " | ".join(fmt_ns(s5.get(v)) for v in vs) + " | "
                    + " | ".join("–" for _ in vs) + " |")
        for lib in ["ours"] + PEERS:
            if lib not in s2:
                continue
            cells = []
            for v in vs:
                r = ratio(s5.get(v), s2[lib].get(v))
                cell = fmt_ratio(r)
                if lib == "ours":
                    cell += " (" + targets.check("5", f"record_metric, {v}: ≤ 3x our scenario 2", r, 3.0) + ")"
                cells.append(cell)
            body.append(f"| scenario 2, {lib} | " + " | ".join(fmt_ns(s2[lib].get(v)) for v in vs) + " | "
                        + " | ".join(cells) + " |")
        body.append("")
    else:
        body.append("_Not in this run._\n")

    body.extend(issue18_section(peers, sections.get("clock", []), targets))

    # 6
    body.append("### 6. Memory\n")
    mem = {}
    for line in sections.get("memory", []):
        parts = line.split()
        if len(parts) == 4 and parts[0] == "memory":
            mem.setdefault(parts[1], {})[parts[2]] = float(parts[3])
    series = mem.get("new_series", {})
    labels = mem.get("label_bytes", {})
    if series:
        body.append("Live heap bytes per new series: a counter with labels `kind` (3 values), `route` (6) and a unique "
                    "`user_name`, 100,000 series, single thread, counted by a global allocator (measured's memory "
                    "scenario). Label bytes per series: "
                    f"{labels.get('unique_values', 0):.1f} unique (the user name), "
                    f"{labels.get('all_keys_and_values', 0):.1f} counting every key and value.\n")
        body.append("| library | bytes / series | ours − lib |")
        body.append("|---|---|---|")
        for lib in ["ours", "ours_typed"] + PEERS:
            if lib in series:
                diff = series["ours"] - series[lib] if "ours" in series else None
                body.append(f"| {lib} | {series[lib]:.1f} | {'–' if lib == 'ours' or diff is None else f'{diff:+.1f}'} |")
        body.append("")
        if "ours" in series and "measured" in series:
            for kind, extra in (("unique", labels.get("unique_values")), ("all", labels.get("all_keys_and_values"))):
                if extra is None:
                    continue
                limit = series["measured"] + extra
                targets.check("6", f"bytes per new series ≤ measured + label bytes ({kind}: {limit:.1f})",
                              series["ours"], limit, f"{series['ours']:.1f} B")
    created_ns, created_allocs = mem.get("new_series_ns", {}), mem.get("new_series_allocs", {})
    if created_ns:
        body.append("Creating a series (issue 18), over the same 100,000 new series, timed in the second of two "
                    "passes (every library runs once untimed first, so that none is timed on the process's fresh "
                    "heap): `ours` by string tags "
                    "(`increment_counter`), `ours_typed` through a family of `#[derive(LabelSet)]` label sets "
                    "(`kind` an enum, `route` and `user_name` strings, as measured's label group). The time "
                    "includes the counting allocator's two relaxed atomics per allocation, which every library "
                    "pays.\n")
        body.append("| library | ns / new series | allocations / new series | time / measured |")
        body.append("|---|---|---|---|")
        base = created_ns.get("measured")
        for lib in ["ours", "ours_typed"] + PEERS:
            if lib not in created_ns:
                continue
            rel = created_ns[lib] / base if base else None
            cell = fmt_ratio(rel)
            if lib in ("ours", "ours_typed") and rel is not None:
                how = "string tags" if lib == "ours" else "typed family"
                cell += " (" + targets.check("18", f"creating a series ({how}): ≤ 2x measured's time", rel, 2.0) + ")"
                allocs = created_allocs.get(lib)
                if allocs is not None:
                    targets.check("18", f"creating a series ({how}): ≤ 2 allocations", allocs, 2.0, f"{allocs:.1f}")
            body.append(f"| {lib} | {created_ns[lib]:.1f} | {created_allocs.get(lib, float('nan')):.1f} | {cell} |")
        body.append("")
    details = [line[len("detail "):] for line in sections.get("memory", []) if line.startswith("detail ")]
    if details:
        body.append("Where those bytes are (net live blocks per series, by requested size; \"tables\" are blocks over "
                    "1 KiB: hash tables, arenas and interners, amortized over the series):\n")
        body.extend(f"- {d}" for d in details)
        body.append("")
    retained = mem.get("retained_sample", {})
    if retained:
        body.append("Our bytes per retained sample (`record_metric` into one series and tag set):\n")
        body.append("| samples | bytes / sample |")
        body.append("|---|---|")
        for key, value in sorted(retained.items(), key=lambda kv: int(kv[0].split("_")[-1])):
            body.append(f"| {int(key.split('_')[-1]):,} | {value:.1f} |")
            targets.check("6", f"bytes per retained sample ({int(key.split('_')[-1]):,} samples) ≤ 32", value, 32.0,
                          f"{value:.1f} B")
        body.append("")
    if not series and not retained:
        body.append("_Not in this run._\n")

    # 7
    def t7(lib, v, r):
        if lib == "prometheus_client":
            return targets.check("7", f"encode {v} series: ≤ 1.0x prometheus-client", r, 1.0)
        return None

    section("7. Exposition: N counter series as Prometheus text", "s7_encode",
            "One family, one `kind` label with N distinct values; each timed call includes the library's "
            "snapshot/gather step (ours: `MetricsCollector::exposition_into`, written from the live series into a buffer kept between calls, as the measured, prometheus and prometheus-client fixtures keep theirs).", t7)

    # 8, 9
    for label, title, note in (
        ("macros", "8. Instrumented function overhead", "`#[record_execution_time]` against the bare function and hand-written timing. Target: ≤ 1.2x hand-written."),
        ("engine", "9. Batch engine overhead per job", "No-op runner, 10k and 100k rows."),
    ):
        body.append(f"### {title}\n")
        body.append(note + "\n")
        lines = sections.get(label)
        if lines is None:
            why = [s for s in skipped if s.startswith(label)]
            body.append(f"_Skipped: {why[0].split(':', 1)[1].strip() if why else 'not in this run'}._\n")
            continue
        results = parse_divan(lines) or parse_criterion(lines)
        body.append("| benchmark | median |")
        body.append("|---|---|")
        for path, row in results.items():
            body.append(f"| {' / '.join(path)} | {fmt_ns(row['median'])} |")
        body.append("")
        if label == "macros":
            body.extend(macro_overhead(results, targets))
            body.append("")
        if label == "engine":
            body.extend(per_job(results))
            body.append("")

    # 10 (issue 17)
    def t10(lib, v, r):
        if v == "t=2" and lib == "metrics":
            return targets.check("10", "`metrics` facade through our recorder, 2 threads: ≤ 0.5x metrics-exporter-prometheus's recorder", r, 0.5)
        return None

    section("10a. The `metrics` facade: `counter!(name, labels).increment(1)`", "s10_facade_counter",
            "The same facade call, a random (kind, route) group of 18 per iteration, through metrics-bridge's "
            "`MetricsRecorder` (ours) and metrics-exporter-prometheus's recorder (`metrics`). The macro registers "
            "the key on every call. Target (issue 17) at 2 threads: ≤ 0.5x metrics-exporter-prometheus.", t10)
    section("10b. The `metrics` facade: `histogram!(name, labels).record(v)`", "s10_facade_histogram",
            "As 10a with a histogram (8 exponential buckets from 0.001 in both) and a random value in [0, 1).", t10)
    body.extend(http_section(sections.get("http"), targets))

    body.extend(instruction_tables(sections.get("instructions"), skipped))

    out = []
    out.append("# Benchmarks: metrics-core side by side with the fastest Rust metrics crates\n")
    out.append("Generated by `scripts/bench.sh` (parser: `scripts/bench_report.py`) from "
               f"`{raw_path}`; do not edit by hand. Every library ran in the same process run, on the same machine.\n")
    out.append("| machine | |")
    out.append("|---|---|")
    for key in ("date", "nproc", "cpu", "rustc", "commit", "load", "priority"):
        out.append(f"| {key} | {machine.get(key, 'unknown')} |")
    out.append("")
    out.append("Times are divan medians per operation (per thread at 2 threads). Ratios are ours / theirs: below 1.0x "
               "we are faster. These are 2-core virtual machines shared with other work: absolute times move by "
               "25% or more between runs; ratios from one run are the comparable numbers.\n")
    if discarded:
        out.append(f"**Note:** {len(discarded)} earlier run(s) of the peers bench were discarded (kept in the raw "
                   "file) because their raw atomic did not slow down at 2 threads, i.e. the two benchmark threads "
                   "did not run at the same time; the tables use the last run.\n")
    for warning in contention_warning:
        out.append(f"**Note:** {warning}\n")
    out.append("Libraries: " + "; ".join(f"`{k}` = {v}" for k, v in LIBRARY_NOTES.items()) + ".\n")
    out.append("## Targets (issue 6)\n")
    out.append("| scenario | target | measured | verdict |")
    out.append("|---|---|---|---|")
    for row in targets.rows:
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("## Scenarios\n")
    out.extend(body)
    # The store's figures come from their own bench (docs/benchmarks-store.md).
    store_page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks-store.md")
    if os.path.exists(store_page):
        with open(store_page, encoding="utf-8") as f:
            out.append(f.read())
    out.append("## Reproduce\n")
    out.append("```sh\nscripts/bench.sh              # build, run everything, write docs/bench-raw/ and this page\n"
               "scripts/bench.sh RAW.txt      # only regenerate this page from a raw file\n"
               "cargo bench -p bykilt-bench --bench peers -- s2_   # one scenario\n```\n")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
