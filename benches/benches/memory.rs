//! Scenario 6, memory: live heap bytes per new series (a unique label set,
//! single thread) for every library, and our bytes per retained sample,
//! counted by a global allocator that tracks live bytes.
//!
//! The series scenario is measured's memory bench: a counter with labels
//! `kind` (3 values), `route` (6 values) and `user_name` (unique per series).
//! Inputs are generated before counting starts; a library that takes an
//! owned `String` gets a clone, whose bytes it then retains and is charged
//! for. Each family gets one warm-up series first, so fixed per-family costs
//! are not spread over the series.
//!
//! The same run gives the cost of creating a series (issue 18): time and
//! allocation calls per new series (`new_series_ns`, `new_series_allocs`),
//! by string tags (`ours`) and through a typed family (`ours_typed`).
//!
//! Every library runs twice and only the second pass is reported, so that
//! none is timed on the process's fresh heap (see `main`).
//!
//! Output lines `memory <what> <library> <value>` are read by
//! `scripts/bench_report.py`. Run with
//! `cargo bench -p bykilt-bench --bench memory`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

use bykilt_bench::{KINDS, ROUTES};
use measured::label::StaticLabelSet;
use measured_derive::{FixedCardinalityLabel, LabelGroup};
use metrics::SharedString;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use paracord::ParaCord;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Largest size class tracked on its own; larger blocks share the last slot.
const SIZE_CLASSES: usize = 1024;
/// Net live blocks per requested size (the last slot: every larger size),
/// so a report can say which allocations a new series costs.
static BLOCKS: [AtomicIsize; SIZE_CLASSES + 1] = [const { AtomicIsize::new(0) }; SIZE_CLASSES + 1];
/// Net live bytes in blocks larger than `SIZE_CLASSES`.
static LARGE_BYTES: AtomicIsize = AtomicIsize::new(0);

/// Allocation calls (`alloc`, `alloc_zeroed`, `realloc`) since the start.
static ALLOCS: AtomicIsize = AtomicIsize::new(0);

fn track(size: usize, sign: isize) {
    if sign > 0 {
        ALLOCS.fetch_add(1, Relaxed);
    }
    LIVE.fetch_add(sign * size as isize, Relaxed);
    BLOCKS[size.min(SIZE_CLASSES)].fetch_add(sign, Relaxed);
    if size > SIZE_CLASSES {
        LARGE_BYTES.fetch_add(sign * size as isize, Relaxed);
    }
}

// SAFETY: forwards every call to `System` and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(layout.size(), -1);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(layout.size(), -1);
        track(new_size, 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Relaxed)
}

/// Series created per library.
const SERIES: usize = 100_000;

#[derive(
    Clone, Copy, PartialEq, Debug, Hash, Eq, FixedCardinalityLabel, EncodeLabelValue, metrics_core::LabelValue,
)]
enum ErrorKind {
    User,
    Internal,
    Network,
}

const ERROR_KINDS: [ErrorKind; 3] = [ErrorKind::User, ErrorKind::Internal, ErrorKind::Network];

/// Our typed label set for the same series.
#[derive(metrics_core::LabelSet)]
struct ErrorLabels<'a> {
    kind: ErrorKind,
    route: &'a str,
    user_name: &'a str,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = ErrorsSet)]
struct Error<'a> {
    kind: ErrorKind,
    #[label(dynamic_with = ParaCord)]
    route: &'a str,
    #[label(dynamic_with = ParaCord)]
    user_name: &'a str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorStatic {
    kind: ErrorKind,
    route: &'static str,
    user_name: String,
}

/// One series' labels: indices into `KINDS`/`ROUTES` and a unique name.
struct Input {
    kind: usize,
    route: usize,
    user_name: String,
}

fn inputs(prefix: &str) -> Vec<Input> {
    (0..SERIES)
        .map(|i| Input {
            kind: i % KINDS.len(),
            route: (i / KINDS.len()) % ROUTES.len(),
            user_name: format!("{prefix}{i:07}"),
        })
        .collect()
}

/// Live bytes added by `f` over the inputs, per series; prints which block
/// sizes hold them (`detail` lines, the largest shares first).
fn per_series(library: &str, inputs: &[Input], f: impl FnOnce(&[Input])) -> f64 {
    let blocks_before: Vec<isize> = BLOCKS.iter().map(|b| b.load(Relaxed)).collect();
    let large_before = LARGE_BYTES.load(Relaxed);
    let allocs_before = ALLOCS.load(Relaxed);
    let before = live();
    let started = std::time::Instant::now();
    f(inputs);
    let elapsed = started.elapsed();
    let per = (live() - before) as f64 / inputs.len() as f64;
    let n = inputs.len() as f64;
    // Creating a series (issue 18): time and allocation calls per new
    // series. The time includes this allocator's bookkeeping (two relaxed
    // atomics per call), which every library pays per allocation.
    report("new_series_ns", library, elapsed.as_nanos() as f64 / n);
    report(
        "new_series_allocs",
        library,
        (ALLOCS.load(Relaxed) - allocs_before) as f64 / n,
    );
    let mut shares: Vec<(String, f64)> = (0..SIZE_CLASSES)
        .filter_map(|size| {
            let blocks = BLOCKS[size].load(Relaxed) - blocks_before[size];
            (blocks != 0).then(|| {
                (
                    format!("{size} B x {:.2}", blocks as f64 / n),
                    (blocks * size as isize) as f64 / n,
                )
            })
        })
        .collect();
    let large = (LARGE_BYTES.load(Relaxed) - large_before) as f64 / n;
    if large != 0.0 {
        shares.push((format!("blocks > {SIZE_CLASSES} B (tables)"), large));
    }
    shares.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let top: Vec<String> = shares
        .iter()
        .filter(|(_, bytes)| bytes.abs() >= 0.05)
        .take(6)
        .map(|(what, bytes)| format!("{what} = {bytes:.1}"))
        .collect();
    if !QUIET.load(Relaxed) {
        println!("detail {library} bytes per series by block size: {}", top.join("; "));
    }
    per
}

/// Scenario 6 and the cost of creating a series, for every library.
fn libraries(config: &MetricsConfig, input: &[Input]) {
    // Ours: aggregate-only updates by name, one tag set per series.
    let c = MetricsCollector::new(config.clone());
    c.increment_counter(
        "http_request_errors",
        &[("kind", "user"), ("route", "/"), ("user_name", "warm")],
        1,
    )
    .unwrap();
    let ours = per_series("ours", input, |input| {
        for i in input {
            let tags = [
                ("kind", KINDS[i.kind]),
                ("route", ROUTES[i.route]),
                ("user_name", i.user_name.as_str()),
            ];
            c.increment_counter("http_request_errors", &tags, 1).unwrap();
        }
    });
    report("new_series", "ours", ours);
    drop(c);

    // Ours, typed: a family of `#[derive(LabelSet)]` label sets, `kind` an
    // enum and `route` and `user_name` strings, as measured's label group.
    let c = MetricsCollector::new(config.clone());
    let family = c.counter_family::<ErrorLabels>("http_request_errors").unwrap();
    family
        .increment(
            &ErrorLabels {
                kind: ErrorKind::User,
                route: "/",
                user_name: "warm",
            },
            1,
        )
        .unwrap();
    // The outer `input`: the family's label type borrows from it.
    let ours_typed = per_series("ours_typed", input, |_| {
        for i in input {
            let labels = ErrorLabels {
                kind: ERROR_KINDS[i.kind],
                route: ROUTES[i.route],
                user_name: &i.user_name,
            };
            family.increment(&labels, 1).unwrap();
        }
    });
    report("new_series", "ours_typed", ours_typed);
    drop(family);
    drop(c);

    // measured: interned routes and names (ParaCord), fixed-cardinality kind.
    let counters = measured::CounterVec::with_label_set(ErrorsSet {
        kind: StaticLabelSet::new(),
        route: ParaCord::from_iter(ROUTES),
        user_name: ParaCord::default(),
    });
    counters.inc(Error {
        kind: ErrorKind::User,
        route: ROUTES[0],
        user_name: "warm",
    });
    let measured = per_series("measured", input, |input| {
        for i in input {
            counters.inc(Error {
                kind: ERROR_KINDS[i.kind],
                route: ROUTES[i.route],
                user_name: &i.user_name,
            });
        }
    });
    report("new_series", "measured", measured);
    drop(counters);

    let registry = prometheus::Registry::new();
    let counters = prometheus::register_int_counter_vec_with_registry!(
        "http_request_errors_total",
        "help text",
        &["kind", "route", "user_name"],
        registry
    )
    .unwrap();
    counters.with_label_values(&["user", "/", "warm"]).inc();
    let prometheus = per_series("prometheus", input, |input| {
        for i in input {
            counters
                .with_label_values(&[KINDS[i.kind], ROUTES[i.route], i.user_name.as_str()])
                .inc();
        }
    });
    report("new_series", "prometheus", prometheus);
    drop((counters, registry));

    {
        use prometheus_client::metrics::{counter::Counter, family::Family};
        let mut registry = <prometheus_client::registry::Registry>::default();
        let counters = Family::<ErrorStatic, Counter>::default();
        registry.register("http_request_errors", "help text", counters.clone());
        counters
            .get_or_create(&ErrorStatic {
                kind: ErrorKind::User,
                route: "/",
                user_name: "warm".to_string(),
            })
            .inc();
        let prometheus_client = per_series("prometheus_client", input, |input| {
            for i in input {
                counters
                    .get_or_create(&ErrorStatic {
                        kind: ERROR_KINDS[i.kind],
                        route: ROUTES[i.route],
                        user_name: i.user_name.clone(),
                    })
                    .inc();
            }
        });
        report("new_series", "prometheus_client", prometheus_client);
    }

    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("http_request_errors", "help text");
            let labels = [("kind", "user"), ("route", "/"), ("user_name", "warm")];
            metrics::counter!("http_request_errors", &labels).increment(1);
            let metrics = per_series("metrics", input, |input| {
                for i in input {
                    let labels = [
                        ("kind", SharedString::const_str(KINDS[i.kind])),
                        ("route", SharedString::const_str(ROUTES[i.route])),
                        ("user_name", SharedString::from_owned(i.user_name.clone())),
                    ];
                    metrics::counter!("http_request_errors", &labels).increment(1);
                }
            });
            report("new_series", "metrics", metrics);
        });
    }
}

/// Set while a warm-up pass runs: nothing is reported.
static QUIET: AtomicBool = AtomicBool::new(false);

fn report(what: &str, library: &str, value: f64) {
    if !QUIET.load(Relaxed) {
        println!("memory {what} {library} {value:.1}");
    }
}

fn main() {
    let config = MetricsConfig {
        max_tag_sets_per_series: 10 * SERIES,
        max_samples_per_series: 1_000_000,
        system_metrics_interval: std::time::Duration::ZERO,
        ..MetricsConfig::default()
    };
    let input = inputs("user-");
    let n = input.len() as f64;
    let unique_bytes: usize = input.iter().map(|i| i.user_name.len()).sum();
    let all_bytes: usize = input
        .iter()
        .map(|i| {
            "kind".len()
                + KINDS[i.kind].len()
                + "route".len()
                + ROUTES[i.route].len()
                + "user_name".len()
                + i.user_name.len()
        })
        .sum();
    report("label_bytes", "unique_values", unique_bytes as f64 / n);
    report("label_bytes", "all_keys_and_values", all_bytes as f64 / n);

    // Every library runs twice, and only the second pass is reported: in
    // one process the first library would otherwise be timed on a fresh
    // heap (every page faulted in) and each later one on the memory its
    // predecessor freed, which made the first (ours) up to a third slower
    // per new series. In the second pass each library follows another's
    // freed memory.
    QUIET.store(true, Relaxed);
    libraries(&config, &inputs("warm-"));
    QUIET.store(false, Relaxed);
    libraries(&config, &input);

    // Ours, bytes per retained sample: one series, one tag set, many samples.
    for samples in [100_000usize, 1_000_000] {
        let c = MetricsCollector::new(config.clone());
        c.record_metric("warm", 1.0, &[("kind", "user"), ("route", "/")], MetricType::Counter)
            .unwrap();
        let before = live();
        for _ in 0..samples {
            c.record_metric("warm", 1.0, &[("kind", "user"), ("route", "/")], MetricType::Counter)
                .unwrap();
        }
        let per = (live() - before) as f64 / samples as f64;
        report("retained_sample", &format!("ours_{samples}"), per);
    }
}
