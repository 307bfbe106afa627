//! Instructions per operation, for a repeatable single-thread comparison on
//! noisy machines: `scripts/bench.sh` runs this binary under callgrind
//! twice per (scenario, library), with two operation counts, and divides
//! the difference in instructions by the difference in operations (setup
//! and process start cancel out).
//!
//! `instructions list` prints every `scenario library` pair;
//! `instructions run SCENARIO LIBRARY N` sets the scenario up and runs N
//! operations. Inputs come from a table filled before the first operation,
//! read the same way for every library.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs,
    unreachable_pub
)]

#[path = "peers/encoders.rs"]
mod encoders;
#[allow(dead_code)]
#[path = "peers/labels.rs"]
mod labels;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use labels::{BUCKETS, Error, ErrorStatic, Group, exponential_buckets};
use measured::metric::histogram::Thresholds;
use metrics_core::MetricType;

/// Every measured pair, in report order.
const PAIRS: &[(&str, &[&str])] = &[
    (
        "s1_counter_handle",
        &[
            "ours",
            "raw_atomic",
            "measured",
            "prometheus",
            "prometheus_client",
            "metrics",
        ],
    ),
    (
        "s2_label_lookup_counter",
        &[
            "ours",
            "ours_typed",
            "ours_typed_interned",
            "ours_typed_dense",
            "measured",
            "measured_sparse",
            "prometheus",
            "prometheus_client",
            "metrics",
        ],
    ),
    (
        "s3_histogram_handle",
        &["ours", "measured", "prometheus", "prometheus_client", "metrics"],
    ),
    (
        "s3b_histogram_label_lookup",
        &[
            "ours",
            "ours_typed",
            "ours_typed_interned",
            "ours_typed_dense",
            "measured",
            "measured_sparse",
            "prometheus",
            "prometheus_client",
            "metrics",
        ],
    ),
    (
        "s4_timer",
        &[
            "ours",
            "ours_record_elapsed",
            "measured",
            "prometheus",
            "prometheus_client",
            "metrics",
        ],
    ),
    ("s5_record_metric", &["ours"]),
    (
        "s7_encode_10000",
        &["ours", "measured", "prometheus", "prometheus_client", "metrics"],
    ),
    ("s7_encode_100000", &["ours", "prometheus_client"]),
    ("s10_facade_counter", &["ours", "metrics"]),
    ("s10_facade_histogram", &["ours", "metrics"]),
];

const INPUTS: usize = 4096;
const NAME: &str = "http_request_errors";

type Op = Box<dyn FnMut(&Group, f64)>;

fn op(scenario: &str, library: &str) -> Option<Op> {
    let buckets = exponential_buckets(0.001);
    let op: Op = match (scenario, library) {
        ("s1_counter_handle", "ours") => {
            let c = labels::collector();
            let h = c.counter(NAME, &[]).unwrap();
            Box::new(move |_, _| h.increment(black_box(1)))
        }
        ("s1_counter_handle", "raw_atomic") => {
            let a = AtomicU64::new(0);
            Box::new(move |_, _| {
                a.fetch_add(black_box(1), Relaxed);
            })
        }
        ("s1_counter_handle", "measured") => {
            let h = measured::Counter::new();
            Box::new(move |_, _| h.inc_by(black_box(1)))
        }
        ("s1_counter_handle", "prometheus") => {
            let h = prometheus::IntCounter::new(NAME, "help text").unwrap();
            Box::new(move |_, _| h.inc_by(black_box(1)))
        }
        ("s1_counter_handle", "prometheus_client") => {
            let h = prometheus_client::metrics::counter::Counter::<u64>::default();
            Box::new(move |_, _| {
                h.inc_by(black_box(1));
            })
        }
        ("s1_counter_handle", "metrics") => {
            let r = labels::MetricsRecorder::new(NAME, None);
            let h = metrics::with_local_recorder(&r.recorder, || metrics::counter!(NAME));
            Box::new(move |_, _| {
                let _keep = &r;
                h.increment(black_box(1))
            })
        }
        ("s2_label_lookup_counter", lib) => counter_lookup(lib)?,
        ("s3_histogram_handle", "ours") => {
            let c = labels::collector_with_histogram(NAME, MetricType::Histogram, buckets);
            let h = c.histogram(NAME, &[]).unwrap();
            Box::new(move |_, v| h.record(v))
        }
        ("s3_histogram_handle", "measured") => {
            let h =
                measured::Histogram::<BUCKETS>::with_metadata(Thresholds::<BUCKETS>::exponential_buckets(0.001, 2.0));
            Box::new(move |_, v| h.observe(v))
        }
        ("s3_histogram_handle", "prometheus") => {
            let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(NAME, "help").buckets(buckets))
                .unwrap();
            Box::new(move |_, v| h.observe(v))
        }
        ("s3_histogram_handle", "prometheus_client") => {
            let h = prometheus_client::metrics::histogram::Histogram::new(buckets);
            Box::new(move |_, v| h.observe(v))
        }
        ("s3_histogram_handle", "metrics") => {
            let r = labels::MetricsRecorder::new(NAME, Some(&buckets));
            let h = metrics::with_local_recorder(&r.recorder, || metrics::histogram!(NAME));
            Box::new(move |_, v| {
                let _keep = &r;
                h.record(v)
            })
        }
        ("s3b_histogram_label_lookup", lib) => histogram_lookup(lib, buckets)?,
        ("s4_timer", lib) => timer(lib)?,
        ("s5_record_metric", "ours") => {
            let c = labels::collector();
            c.configure(&metrics_core::MetricsConfig {
                max_samples_per_series: 1_000,
                max_tag_sets_per_series: 1_000,
                system_metrics_interval: std::time::Duration::ZERO,
                ..metrics_core::MetricsConfig::default()
            });
            Box::new(move |g, _| {
                let tags = [("kind", g.kind_str), ("route", g.route)];
                c.record_metric(NAME, 1.0, &tags, MetricType::Counter).unwrap();
            })
        }
        ("s7_encode_10000", lib) => encode(lib, 10_000)?,
        ("s7_encode_100000", lib) => encode(lib, 100_000)?,
        ("s10_facade_counter", lib) => facade(lib, false)?,
        ("s10_facade_histogram", lib) => facade(lib, true)?,
        _ => return None,
    };
    Some(op)
}

/// A counter family of label set `L`, each input's labels made by `label_set`.
fn typed_counter<L: metrics_core::LabelSet + 'static>(label_set: impl Fn(&Group) -> L + 'static) -> Op {
    let c = labels::collector();
    let f = c.counter_family::<L>(NAME).unwrap();
    Box::new(move |g, _| f.increment(&label_set(g), 1).unwrap())
}

/// A histogram family of label set `L` over `buckets`.
fn typed_histogram<L: metrics_core::LabelSet + 'static>(
    buckets: Vec<f64>,
    label_set: impl Fn(&Group) -> L + 'static,
) -> Op {
    let c = labels::collector();
    let b = metrics_core::Buckets::from_bounds(buckets).unwrap();
    let f = c.histogram_family_with_buckets::<L>(NAME, &b).unwrap();
    Box::new(move |g, v| f.record(&label_set(g), v).unwrap())
}

fn counter_lookup(library: &str) -> Option<Op> {
    Some(match library {
        "ours_typed" => typed_counter(Group::typed),
        "ours_typed_interned" => typed_counter(Group::interned),
        "ours_typed_dense" => typed_counter(Group::dense),
        "ours" => {
            let c = labels::collector();
            Box::new(move |g, _| {
                c.increment_counter(NAME, &[("kind", g.kind_str), ("route", g.route)], 1)
                    .unwrap()
            })
        }
        "measured" | "measured_sparse" => {
            let h = if library == "measured" {
                measured::CounterVec::with_label_set(labels::errors_set())
            } else {
                measured::CounterVec::sparse_with_label_set(labels::errors_set())
            };
            Box::new(move |g, _| {
                h.inc(Error {
                    kind: g.kind,
                    route: g.route,
                })
            })
        }
        "prometheus" => {
            let h = prometheus::IntCounterVec::new(prometheus::Opts::new(NAME, "help"), &["kind", "route"]).unwrap();
            Box::new(move |g, _| h.with_label_values(&[g.kind_str, g.route]).inc())
        }
        "prometheus_client" => {
            let h = prometheus_client::metrics::family::Family::<
                ErrorStatic,
                prometheus_client::metrics::counter::Counter,
            >::default();
            Box::new(move |g, _| {
                h.get_or_create(&ErrorStatic {
                    kind: g.kind,
                    route: g.route,
                })
                .inc();
            })
        }
        "metrics" => {
            let r = labels::MetricsRecorder::new(NAME, None);
            Box::new(move |g, _| {
                metrics::with_local_recorder(&r.recorder, || {
                    let labels = [("kind", g.kind_str), ("route", g.route)];
                    metrics::counter!(NAME, &labels).increment(1);
                })
            })
        }
        _ => return None,
    })
}

fn histogram_lookup(library: &str, buckets: Vec<f64>) -> Option<Op> {
    Some(match library {
        "ours_typed" => typed_histogram(buckets, Group::typed),
        "ours_typed_interned" => typed_histogram(buckets, Group::interned),
        "ours_typed_dense" => typed_histogram(buckets, Group::dense),
        "ours" => {
            let c = labels::collector_with_histogram(NAME, MetricType::Histogram, buckets);
            Box::new(move |g, v| {
                c.observe_histogram(NAME, &[("kind", g.kind_str), ("route", g.route)], v)
                    .unwrap()
            })
        }
        "measured" | "measured_sparse" => {
            let t = Thresholds::<BUCKETS>::exponential_buckets(0.001, 2.0);
            let h = if library == "measured" {
                measured::HistogramVec::with_label_set_and_metadata(labels::errors_set(), t)
            } else {
                measured::HistogramVec::sparse_with_label_set_and_metadata(labels::errors_set(), t)
            };
            Box::new(move |g, v| {
                h.observe(
                    Error {
                        kind: g.kind,
                        route: g.route,
                    },
                    v,
                )
            })
        }
        "prometheus" => {
            let opts = prometheus::HistogramOpts::new(NAME, "help").buckets(buckets);
            let h = prometheus::HistogramVec::new(opts, &["kind", "route"]).unwrap();
            Box::new(move |g, v| h.with_label_values(&[g.kind_str, g.route]).observe(v))
        }
        "prometheus_client" => {
            use prometheus_client::metrics::{family::Family, histogram::Histogram};
            let h =
                Family::<ErrorStatic, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.001)));
            Box::new(move |g, v| {
                h.get_or_create(&ErrorStatic {
                    kind: g.kind,
                    route: g.route,
                })
                .observe(v)
            })
        }
        "metrics" => {
            let r = labels::MetricsRecorder::new(NAME, Some(&buckets));
            Box::new(move |g, v| {
                metrics::with_local_recorder(&r.recorder, || {
                    let labels = [("kind", g.kind_str), ("route", g.route)];
                    metrics::histogram!(NAME, &labels).record(v);
                })
            })
        }
        _ => return None,
    })
}

fn timer(library: &str) -> Option<Op> {
    let buckets = exponential_buckets(0.00001);
    Some(match library {
        "ours" | "ours_record_elapsed" => {
            let c = labels::collector_with_histogram(NAME, MetricType::Timer, buckets);
            let t = c.timer(NAME, &[]).unwrap();
            if library == "ours" {
                Box::new(move |_, _| drop(t.start()))
            } else {
                Box::new(move |_, _| {
                    let start = Instant::now();
                    t.record(start.elapsed());
                })
            }
        }
        "measured" => {
            let h =
                measured::Histogram::<BUCKETS>::with_metadata(Thresholds::<BUCKETS>::exponential_buckets(0.00001, 2.0));
            Box::new(move |_, _| drop(h.start_timer()))
        }
        "prometheus" => {
            let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(NAME, "help").buckets(buckets))
                .unwrap();
            Box::new(move |_, _| {
                h.start_timer().stop_and_record();
            })
        }
        "prometheus_client" => {
            let h = prometheus_client::metrics::histogram::Histogram::new(buckets);
            Box::new(move |_, _| {
                let start = Instant::now();
                h.observe(start.elapsed().as_secs_f64());
            })
        }
        "metrics" => {
            let r = labels::MetricsRecorder::new(NAME, Some(&buckets));
            let h = metrics::with_local_recorder(&r.recorder, || metrics::histogram!(NAME));
            Box::new(move |_, _| {
                let _keep = &r;
                let start = Instant::now();
                h.record(start.elapsed().as_secs_f64());
            })
        }
        _ => return None,
    })
}

/// Scenario 10: the same `metrics` facade calls through our recorder or
/// metrics-exporter-prometheus's (a counter, or a histogram when `histogram`).
fn facade(library: &str, histogram: bool) -> Option<Op> {
    const HIST: &str = "http_request_duration_seconds";
    let buckets = exponential_buckets(0.001);
    let recorder: Box<dyn metrics::Recorder + Sync> = match library {
        "ours" => {
            let c = if histogram {
                labels::collector_with_histogram(HIST, MetricType::Histogram, buckets)
            } else {
                labels::collector()
            };
            Box::new(metrics_bridge::MetricsRecorder::new(std::sync::Arc::new(c)))
        }
        "metrics" => {
            let r = labels::MetricsRecorder::new(HIST, Some(&buckets));
            // Keep the upkeep thread's guard alive with the recorder.
            Box::new(FacadePeer(r))
        }
        _ => return None,
    };
    Some(Box::new(move |g, v| {
        metrics::with_local_recorder(recorder.as_ref(), || {
            let labels = [("kind", g.kind_str), ("route", g.route)];
            if histogram {
                metrics::histogram!(HIST, &labels).record(v);
            } else {
                metrics::counter!(NAME, &labels).increment(1);
            }
        })
    }))
}

/// metrics-exporter-prometheus's recorder together with its upkeep guard.
struct FacadePeer(labels::MetricsRecorder);

impl metrics::Recorder for FacadePeer {
    fn describe_counter(&self, k: metrics::KeyName, u: Option<metrics::Unit>, d: metrics::SharedString) {
        self.0.recorder.describe_counter(k, u, d)
    }
    fn describe_gauge(&self, k: metrics::KeyName, u: Option<metrics::Unit>, d: metrics::SharedString) {
        self.0.recorder.describe_gauge(k, u, d)
    }
    fn describe_histogram(&self, k: metrics::KeyName, u: Option<metrics::Unit>, d: metrics::SharedString) {
        self.0.recorder.describe_histogram(k, u, d)
    }
    fn register_counter(&self, k: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Counter {
        self.0.recorder.register_counter(k, m)
    }
    fn register_gauge(&self, k: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.0.recorder.register_gauge(k, m)
    }
    fn register_histogram(&self, k: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Histogram {
        self.0.recorder.register_histogram(k, m)
    }
}

fn encode(library: &str, n: usize) -> Option<Op> {
    let mut encode = encoders::encoder(library, n)?;
    Some(Box::new(move |_, _| {
        black_box(encode());
    }))
}

/// The measured loop, out of line so that callgrind can count it alone
/// (`--toggle-collect=*run_ops*`): other threads (the clock's calibration,
/// recorder upkeep) and setup stay out of the count.
#[inline(never)]
fn run_ops(op: &mut Op, inputs: &[(Group, f64)], n: usize) {
    for i in 0..n {
        let (g, v) = &inputs[i % INPUTS];
        op(g, *v);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["list"] => {
            for (scenario, libraries) in PAIRS {
                for library in *libraries {
                    println!("{scenario} {library}");
                }
            }
        }
        ["run", scenario, library, n] => {
            let n: usize = n.parse().expect("N must be a count");
            let mut op = op(scenario, library).unwrap_or_else(|| panic!("unknown pair {scenario} {library}"));
            let inputs: Vec<(Group, f64)> = (0..INPUTS)
                .map(|_| (labels::random_group(), bykilt_bench::random_unit()))
                .collect();
            // One operation outside the count first: what runs once per
            // process (the clock's calibration on its first read, a lazy
            // static) must not land in the measured loop of one run and not
            // the other, where the difference of two runs would carry it.
            if let Some((g, v)) = inputs.first() {
                op(g, *v);
            }
            run_ops(&mut op, &inputs, n);
        }
        _ => println!(
            "usage: instructions list | instructions run SCENARIO LIBRARY N (run by scripts/bench.sh under callgrind)"
        ),
    }
}
