//! Scenarios 1, 2 and 5: counters through a cached handle, through a label
//! lookup per update, and our event path that also keeps a sample.

/// Scenario 1: one counter, resolved once, incremented by 1 from every thread.
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 100_000)]
mod s1_counter_handle {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use divan::{Bencher, black_box};

    use crate::labels;

    /// The floor: one shared `AtomicU64`.
    #[divan::bench]
    fn raw_atomic(b: Bencher) {
        let a = AtomicU64::new(0);
        b.bench(|| a.fetch_add(black_box(1), Relaxed));
    }

    #[divan::bench]
    fn ours(b: Bencher) {
        let c = labels::collector();
        let counter = c.counter("http_requests", &[]).unwrap();
        b.bench(|| counter.increment(black_box(1)));
    }

    #[divan::bench]
    fn measured(b: Bencher) {
        let counter = measured::Counter::new();
        b.bench(|| counter.inc_by(black_box(1)));
    }

    #[divan::bench]
    fn prometheus(b: Bencher) {
        let counter = prometheus::IntCounter::new("http_requests", "help text").unwrap();
        b.bench(|| counter.inc_by(black_box(1)));
    }

    #[divan::bench]
    fn prometheus_client(b: Bencher) {
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        b.bench(|| counter.inc_by(black_box(1)));
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        let r = labels::MetricsRecorder::new("http_requests", None);
        let counter = metrics::with_local_recorder(&r.recorder, || metrics::counter!("http_requests"));
        b.bench(|| counter.increment(black_box(1)));
    }
}

/// Scenario 2: find the counter of a random (kind, route) group among 18,
/// then add 1; the group is drawn outside the timed region.
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 50_000)]
mod s2_label_lookup_counter {
    use divan::Bencher;

    use crate::labels::{self, Error, ErrorStatic, random_group};

    /// Our string tags, no handle: `increment_counter`.
    #[divan::bench]
    fn ours(b: Bencher) {
        let c = labels::collector();
        b.with_inputs(random_group).bench_values(|g| {
            c.increment_counter("http_request_errors", &[("kind", g.kind_str), ("route", g.route)], 1)
        });
    }

    /// Our typed family, the route a `&str`: `f.increment(&labels, 1)`.
    #[divan::bench]
    fn ours_typed(b: Bencher) {
        let c = labels::collector();
        let f = c.counter_family::<labels::ErrorLabels>("http_request_errors").unwrap();
        b.with_inputs(random_group).bench_values(|g| f.increment(&g.typed(), 1));
    }

    /// Our typed family, the route interned up front: keyed by its id.
    #[divan::bench]
    fn ours_typed_interned(b: Bencher) {
        let c = labels::collector();
        let f = c
            .counter_family::<labels::ErrorInterned>("http_request_errors")
            .unwrap();
        b.with_inputs(random_group)
            .bench_values(|g| f.increment(&g.interned(), 1));
    }

    /// Our typed family, both labels enums: a dense index.
    #[divan::bench]
    fn ours_typed_dense(b: Bencher) {
        let c = labels::collector();
        let f = c.counter_family::<labels::ErrorDense>("http_request_errors").unwrap();
        b.with_inputs(random_group).bench_values(|g| f.increment(&g.dense(), 1));
    }

    /// measured's dense (fixed-cardinality) label set: an array index.
    #[divan::bench]
    fn measured(b: Bencher) {
        let counters = measured::CounterVec::with_label_set(labels::errors_set());
        b.with_inputs(random_group).bench_values(|g| {
            counters.inc(Error {
                kind: g.kind,
                route: g.route,
            })
        });
    }

    /// measured's sparse label set: a hash map from label group to counter.
    #[divan::bench]
    fn measured_sparse(b: Bencher) {
        let counters = measured::CounterVec::sparse_with_label_set(labels::errors_set());
        b.with_inputs(random_group).bench_values(|g| {
            counters.inc(Error {
                kind: g.kind,
                route: g.route,
            })
        });
    }

    #[divan::bench]
    fn prometheus(b: Bencher) {
        let registry = prometheus::Registry::new();
        let counters = prometheus::register_int_counter_vec_with_registry!(
            "http_request_errors",
            "help text",
            &["kind", "route"],
            registry
        )
        .unwrap();
        b.with_inputs(random_group)
            .bench_values(|g| counters.with_label_values(&[g.kind_str, g.route]).inc());
    }

    #[divan::bench]
    fn prometheus_client(b: Bencher) {
        use prometheus_client::metrics::{counter::Counter, family::Family};
        let mut registry = <prometheus_client::registry::Registry>::default();
        let counters = Family::<ErrorStatic, Counter>::default();
        registry.register("http_request_errors", "help text", counters.clone());
        b.with_inputs(random_group).bench_values(|g| {
            counters
                .get_or_create(&ErrorStatic {
                    kind: g.kind,
                    route: g.route,
                })
                .inc();
        });
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        let r = labels::MetricsRecorder::new("http_request_errors", None);
        metrics::with_local_recorder(&r.recorder, || {
            metrics::describe_counter!("http_request_errors", "help text");
        });
        b.with_inputs(random_group).bench_values(|g| {
            metrics::with_local_recorder(&r.recorder, || {
                let labels = [("kind", g.kind_str), ("route", g.route)];
                metrics::counter!("http_request_errors", &labels).increment(1);
            });
        });
    }
}

/// Scenario 5: our event path, `record_metric` with the two tags of a random
/// group of scenario 2, keeping a timestamped sample per call. The
/// peers have no equivalent: the report compares it with scenario 2. The
/// series is filled to its cap before timing, so every timed push also
/// drops the oldest sample (the steady state of a long-running process).
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 50_000)]
mod s5_record_metric {
    use divan::Bencher;
    use metrics_core::MetricType;

    use crate::labels::{self, random_group};

    #[divan::bench]
    fn ours(b: Bencher) {
        let c = labels::collector();
        for _ in 0..100_000 {
            let g = random_group();
            let tags = [("kind", g.kind_str), ("route", g.route)];
            c.record_metric("http_request_errors", 1.0, &tags, MetricType::Counter)
                .unwrap();
        }
        b.with_inputs(random_group).bench_values(|g| {
            c.record_metric(
                "http_request_errors",
                1.0,
                &[("kind", g.kind_str), ("route", g.route)],
                MetricType::Counter,
            )
        });
    }
}
