//! The store's figures, side by side in one run (docs/benchmarks.md):
//!
//! 1. `record_metric` with and without a store attached (the overhead ratio);
//! 2. sustained ingest through the writer, and bytes on disk per sample at
//!    1M and 10M samples;
//! 3. the same samples written the naive way — one `INSERT` per sample, one
//!    row each — and as rows in one transaction;
//! 4. a summary of 1M samples of one series over one hour, and
//!    `query --limit 1000` on the 10M-sample database, and the `count` of
//!    every matching sample the series route adds to it.
//!
//! `cargo bench -p metrics-store --bench store` (`BENCH_SAMPLES=N` scales
//! the large database; default 10,000,000).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_core::clock::ManualClock;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use metrics_store::{MetricsStore, RunFilter, RunInfo, SampleQuery, StoreOptions, StoreReader};

fn config() -> MetricsConfig {
    MetricsConfig {
        retention: Duration::from_secs(10 * 365 * 86_400),
        max_samples_per_series: 10_000,
        ..MetricsConfig::default()
    }
}

const ROUTES: [&str; 10] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];

/// A job-duration-like value: milliseconds with three decimals.
fn value(i: u64) -> f64 {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    (x % 5_000_000) as f64 / 1000.0
}

fn db_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::metadata(&p).map_or(0, |m| m.len())
        })
        .sum()
}

fn record_loop(c: &MetricsCollector, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        let route = ROUTES[(i % 10) as usize];
        c.record_metric(
            black_box("request_seconds"),
            value(i),
            &[("route", route), ("status", "200")],
            MetricType::Timer,
        )
        .unwrap();
    }
    start.elapsed()
}

/// ns per `record_metric` on a collector with a store attached (`options`).
fn with_store(dir: &Path, name: &str, n: u64, options: StoreOptions) -> (f64, u64) {
    let c = Arc::new(MetricsCollector::new(config()));
    let store = MetricsStore::open(dir.join(name), options).unwrap();
    let run = store.begin_run(&RunInfo::current("overhead")).unwrap();
    let rec = store.record(Arc::clone(&c), run).unwrap();
    // Warm up with as many samples and commit them: the hand-off's
    // buffers are then allocated and recycled, as in the steady state.
    record_loop(&c, n);
    rec.flush().unwrap();
    let ns = record_loop(&c, n).as_nanos() as f64 / n as f64;
    let (_, status) = rec.finish().unwrap();
    assert_eq!(status.failed, 0);
    (ns, status.dropped)
}

fn overhead(dir: &Path) {
    let n = 2_000_000u64;
    let (mut without, mut handoff, mut live) = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped = 0;
    for round in 0..3 {
        let plain = MetricsCollector::new(config());
        record_loop(&plain, 10_000);
        without.push(record_loop(&plain, n).as_nanos() as f64 / n as f64);
        // The hand-off alone: the writer holds off until the loop is done.
        let idle = StoreOptions {
            flush_interval: Duration::from_secs(3600),
            handoff_capacity: 8 << 20,
            ..StoreOptions::default()
        };
        handoff.push(with_store(dir, &format!("idle-{round}.db"), n, idle).0);
        // The writer flushing every second meanwhile, on the other core.
        let (ns, d) = with_store(dir, &format!("live-{round}.db"), n, StoreOptions::default());
        live.push(ns);
        dropped += d;
    }
    for v in [&mut without, &mut handoff, &mut live] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "record_metric, 2 tags, 1 thread (median of 3 x {n}): without store {:.1} ns; with store, warm hand-off, writer mostly idle {:.1} ns ({:.2}x); with the writer flushing meanwhile {:.1} ns ({:.2}x, {dropped} of {} samples dropped)",
        without[1],
        handoff[1],
        handoff[1] / without[1],
        live[1],
        live[1] / without[1],
        3 * n
    );
}

/// Records `n` samples into a fresh store as fast as one thread can, then
/// finishes; returns (written, dropped, seconds, bytes).
fn ingest(path: &Path, n: u64, capacity: usize) -> (u64, u64, f64, u64) {
    let c = Arc::new(MetricsCollector::new(config()));
    let store = MetricsStore::open(
        path,
        StoreOptions {
            handoff_capacity: capacity,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let run = store.begin_run(&RunInfo::current("ingest")).unwrap();
    let rec = store.record(Arc::clone(&c), run).unwrap();
    let start = Instant::now();
    record_loop(&c, n);
    let (_, status) = rec.finish().unwrap();
    let secs = start.elapsed().as_secs_f64();
    (status.written, status.dropped, secs, db_bytes(path))
}

fn naive(path: &Path, n: u64, one_transaction: bool) -> (f64, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE samples (series_id INTEGER, tag_set_id INTEGER, run_id INTEGER, ts INTEGER, value REAL);
         CREATE INDEX samples_by_series_time ON samples (series_id, tag_set_id, ts);",
    )
    .unwrap();
    let start = Instant::now();
    if one_transaction {
        conn.execute_batch("BEGIN").unwrap();
    }
    let mut stmt = conn.prepare("INSERT INTO samples VALUES (?1, ?2, ?3, ?4, ?5)").unwrap();
    let t0 = 1_800_000_000_000_000_000i64;
    for i in 0..n {
        stmt.execute(rusqlite::params![1, (i % 10) as i64, 1, t0 + i as i64 * 137, value(i)])
            .unwrap();
    }
    drop(stmt);
    if one_transaction {
        conn.execute_batch("COMMIT").unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    (n as f64 / secs, db_bytes(path))
}

/// 1M samples of one series spread over one hour, stamped by a manual clock.
fn hour_of_samples(path: &Path) {
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let clock = Arc::new(ManualClock::at(start));
    let c = Arc::new(MetricsCollector::with_clock(config(), clock.clone()));
    let store = MetricsStore::open(path, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("hour")).unwrap();
    let rec = store.record(Arc::clone(&c), run).unwrap();
    for i in 0..1_000_000u64 {
        clock.advance(Duration::from_micros(3600));
        c.record_metric(
            "job_duration_seconds",
            value(i),
            &[("status", "completed")],
            MetricType::Timer,
        )
        .unwrap();
        if i % 200_000 == 0 {
            rec.flush().unwrap();
        }
    }
    let (_, status) = rec.finish().unwrap();
    assert_eq!((status.written, status.dropped), (1_000_000, 0));
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..5)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let [_, cmd, mode, n, ..] = args.as_slice()
        && cmd == "instructions"
    {
        instructions(mode, n.parse().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let big: u64 = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);

    overhead(dir.path());

    for n in [1_000_000u64, big] {
        let path = dir.path().join(format!("ingest-{n}.db"));
        // One thread records faster than any writer commits: what is
        // measured is what the writer sustains (samples committed per
        // second, start to the final commit), with what the bounded
        // hand-off dropped meanwhile.
        let (written, dropped, secs, bytes) = ingest(&path, n, 4 << 20);
        println!(
            "ingest {n} samples (10 tag sets, 1 recording thread): {:.2}M samples/s written, {dropped} dropped, {:.2} bytes/sample on disk ({bytes} bytes)",
            written as f64 / secs / 1e6,
            bytes as f64 / written.max(1) as f64
        );
    }

    let naive_n = 20_000;
    let (rate, bytes) = naive(&dir.path().join("naive.db"), naive_n, false);
    println!(
        "naive INSERT per sample, autocommit ({naive_n}): {:.3}M samples/s, {:.1} bytes/sample",
        rate / 1e6,
        bytes as f64 / naive_n as f64
    );
    let (rate, bytes) = naive(&dir.path().join("rows.db"), 1_000_000, true);
    println!(
        "one row per sample, one transaction (1M): {:.3}M samples/s, {:.1} bytes/sample",
        rate / 1e6,
        bytes as f64 / 1e6
    );

    let hour = dir.path().join("hour.db");
    hour_of_samples(&hour);
    let reader = StoreReader::open(&hour).unwrap();
    let since = metrics_store::time_spec::unix_nanos(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
    let q = SampleQuery {
        runs: RunFilter::All,
        since: Some(since),
        ..SampleQuery::new("job_duration_seconds")
    };
    let mut count = 0;
    let ms = median_ms(|| count = reader.summary(&q).unwrap().unwrap().count);
    println!("summary (count, sum, p50-p99) of {count} samples over 1 h: {ms:.1} ms (median of 5)");

    let reader = StoreReader::open(dir.path().join(format!("ingest-{big}.db"))).unwrap();
    let q = SampleQuery {
        runs: RunFilter::All,
        tags: vec![("route".into(), "c".into())],
        limit: Some(1000),
        ..SampleQuery::new("request_seconds")
    };
    let mut got = 0;
    let ms = median_ms(|| got = reader.query(&q).unwrap().len());
    println!("query --tag route=c --limit 1000 on {big} samples: {got} samples in {ms:.2} ms (median of 5)");
    let q = SampleQuery { tags: Vec::new(), ..q };
    let ms = median_ms(|| got = reader.query(&q).unwrap().len());
    println!("query --limit 1000 on {big} samples: {got} samples in {ms:.2} ms (median of 5)");
    // What the database server's series route adds to each request for
    // `matching`: every chunk's stored count, none decoded.
    let mut matching = 0;
    let ms = median_ms(|| matching = reader.count(&q).unwrap());
    println!("count (the series route's matching) of {big} samples: {matching} in {ms:.2} ms (median of 5)");
    let q = SampleQuery {
        tags: vec![("route".into(), "c".into())],
        ..q
    };
    let ms = median_ms(|| matching = reader.count(&q).unwrap());
    println!("count --tag route=c of {big} samples: {matching} in {ms:.2} ms (median of 5)");
}

/// `store instructions plain|store N`: N `record_metric` calls, for
/// callgrind (`scripts/store-instructions.sh` diffs two N). With `store`,
/// the writer holds off (flush interval one hour) and the process exits
/// without the final flush, so only the recording path is counted.
fn instructions(mode: &str, n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let c = Arc::new(MetricsCollector::new(config()));
    let _rec = (mode == "store").then(|| {
        let options = StoreOptions {
            flush_interval: Duration::from_secs(3600),
            handoff_capacity: 8 << 20,
            ..StoreOptions::default()
        };
        let store = MetricsStore::open(dir.path().join("i.db"), options).unwrap();
        let run = store.begin_run(&RunInfo::current("instructions")).unwrap();
        store.record(Arc::clone(&c), run).unwrap()
    });
    record_loop(&c, n);
    std::process::exit(0);
}
