//! Store throughput: the event path (`record_metric`), handle updates, and
//! inserts into a capped series, at 1 and 2 threads.
//!
//! Run with `cargo bench -p metrics-core --bench store`.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use divan::Bencher;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

/// A collector whose series never hit the sample cap during a bench run
/// in a way that changes the per-insert work (the cap makes each insert
/// also pop one sample, which is the steady state measured here).
fn collector() -> MetricsCollector {
    MetricsCollector::new(MetricsConfig {
        max_samples_per_series: 100_000,
        retention: Duration::from_secs(3600),
        ..MetricsConfig::default()
    })
}

static SHARED: LazyLock<MetricsCollector> = LazyLock::new(collector);

/// `record_metric` with two tags, sample kept: lookup + aggregate + clock + ring push.
#[divan::bench(threads = THREADS, sample_size = 2000)]
fn record_metric_2_tags(b: Bencher) {
    let c = &*SHARED;
    b.bench(|| {
        c.record_metric(
            black_box("http_requests"),
            1.0,
            &[("method", "GET"), ("status", "200")],
            MetricType::Counter,
        )
    });
}

const ROUTES: [&str; 6] = [
    "/api/v1/users",
    "/api/v1/users/:id",
    "/api/v1/products",
    "/api/v1/products/:id",
    "/api/v1/products/:id/owner",
    "/api/v1/products/:id/purchase",
];
const KINDS: [&str; 3] = ["user", "internal", "network"];

/// Label lookup + increment by name: 2 tags, 18 groups, no handle, no sample.
#[divan::bench(threads = THREADS, sample_size = 2000)]
fn increment_counter_18_groups(b: Bencher) {
    let c = &*SHARED;
    let mut i = 0usize;
    b.bench_local(|| {
        i = i.wrapping_add(7);
        let tags = [("kind", KINDS[i % 3]), ("route", ROUTES[i % 6])];
        c.increment_counter(black_box("http_request_errors"), &tags, 1)
    });
}

/// A cached counter handle: the floor for counting.
#[divan::bench(threads = THREADS, sample_size = 2000)]
fn counter_handle_increment(b: Bencher) {
    static C: LazyLock<metrics_core::Counter> = LazyLock::new(|| {
        SHARED
            .counter("handle_counter", &[("k", "v")])
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let c = &*C;
    b.bench(|| c.increment(black_box(1)));
}

/// A raw `AtomicU64::fetch_add` on one shared line, for comparison.
#[divan::bench(threads = THREADS, sample_size = 2000)]
fn raw_atomic_fetch_add(b: Bencher) {
    static A: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    b.bench(|| A.fetch_add(black_box(1), std::sync::atomic::Ordering::Relaxed));
}

/// A cached histogram handle (aggregate only).
#[divan::bench(threads = THREADS, sample_size = 2000)]
fn histogram_handle_record(b: Bencher) {
    static H: LazyLock<metrics_core::Histogram> = LazyLock::new(|| {
        SHARED
            .histogram("handle_histogram", &[("k", "v")])
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let h = &*H;
    let mut x = 0.001f64;
    b.bench_local(|| {
        x = if x > 10.0 { 0.001 } else { x * 1.37 };
        h.record(black_box(x))
    });
}

/// N inserts into a fresh series capped at 10k samples: time should grow
/// linearly with N (constant per insert) once the cap is reached.
#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 5, sample_size = 1)]
fn capped_series_inserts(b: Bencher, n: usize) {
    b.with_inputs(|| {
        MetricsCollector::new(MetricsConfig {
            max_samples_per_series: 10_000,
            ..MetricsConfig::default()
        })
    })
    .bench_local_values(|c| {
        for i in 0..n {
            let _ = c.record_metric("capped", i as f64, &[("k", "v")], MetricType::Gauge);
        }
        c
    });
}

/// A collector holding `n` counter series (one name, `n` distinct tag sets).
fn counters_with_series(n: usize) -> MetricsCollector {
    let c = MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: n,
        ..MetricsConfig::default()
    });
    for i in 0..n {
        let id = i.to_string();
        let _ = c.increment_counter("requests", &[("id", id.as_str()), ("route", "/api")], 1);
    }
    c
}

/// Prometheus text for N counter series, from an aggregate snapshot taken
/// outside the timed region.
#[divan::bench(args = [10_000, 100_000], sample_count = 10, sample_size = 1)]
fn encode_prometheus_counters(b: Bencher, n: usize) {
    let snapshot = counters_with_series(n).aggregate_snapshot();
    b.bench(|| {
        metrics_core::export::prometheus::encode(&snapshot, metrics_core::export::prometheus::TextFormat::Prometheus)
    });
}

/// Taking the aggregate snapshot that exposition reads, N counter series.
#[divan::bench(args = [10_000, 100_000], sample_count = 10, sample_size = 1)]
fn aggregate_snapshot_counters(b: Bencher, n: usize) {
    let c = counters_with_series(n);
    b.bench(|| c.aggregate_snapshot());
}
