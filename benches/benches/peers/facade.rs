//! Scenario 10: the `metrics` facade. The same `counter!(name, labels)` and
//! `histogram!(name, labels)` calls, made through metrics-bridge's recorder
//! (`ours`, writing into a `MetricsCollector`) and through
//! metrics-exporter-prometheus's recorder (`metrics`). The facade macros
//! register the key on every call, so this measures each recorder's
//! registration path plus the update.

/// A `MetricsRecorder` over a fresh bench collector, with `name` bucketed
/// like the peers when `buckets` is given.
fn our_recorder(name: &str, buckets: Option<Vec<f64>>) -> metrics_bridge::MetricsRecorder {
    let collector = match buckets {
        Some(b) => crate::labels::collector_with_histogram(name, metrics_core::MetricType::Histogram, b),
        None => crate::labels::collector(),
    };
    metrics_bridge::MetricsRecorder::new(std::sync::Arc::new(collector))
}

/// Scenario 10a: `counter!("http_request_errors", &[kind, route]).increment(1)`
/// with a random group of 18 per iteration, drawn outside the timed region.
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 50_000)]
mod s10_facade_counter {
    use divan::Bencher;

    use crate::labels::{self, random_group};

    const NAME: &str = "http_request_errors";

    fn run(b: Bencher, recorder: &(dyn metrics::Recorder + Sync)) {
        metrics::with_local_recorder(recorder, || metrics::describe_counter!(NAME, "help text"));
        b.with_inputs(random_group).bench_values(|g| {
            metrics::with_local_recorder(recorder, || {
                let labels = [("kind", g.kind_str), ("route", g.route)];
                metrics::counter!(NAME, &labels).increment(1);
            });
        });
    }

    #[divan::bench]
    fn ours(b: Bencher) {
        run(b, &super::our_recorder(NAME, None));
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        run(b, &labels::MetricsRecorder::new(NAME, None).recorder);
    }
}

/// Scenario 10b: `histogram!("http_request_duration_seconds", &[kind, route]).record(v)`
/// with a random group and a random value in [0, 1), both drawn outside the
/// timed region; 8 exponential buckets from 0.001 in both recorders.
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 50_000)]
mod s10_facade_histogram {
    use divan::Bencher;

    use crate::labels::{self, exponential_buckets, random_group};

    const NAME: &str = "http_request_duration_seconds";

    fn run(b: Bencher, recorder: &(dyn metrics::Recorder + Sync)) {
        b.with_inputs(|| (random_group(), bykilt_bench::random_unit()))
            .bench_values(|(g, v)| {
                metrics::with_local_recorder(recorder, || {
                    let labels = [("kind", g.kind_str), ("route", g.route)];
                    metrics::histogram!(NAME, &labels).record(v);
                });
            });
    }

    #[divan::bench]
    fn ours(b: Bencher) {
        run(b, &super::our_recorder(NAME, Some(exponential_buckets(0.001))));
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        let buckets = exponential_buckets(0.001);
        run(b, &labels::MetricsRecorder::new(NAME, Some(&buckets)).recorder);
    }
}
