//! Scenarios 3 and 4: histogram observations through a handle and through
//! a label lookup, and a timer (start, stop, record) on one series. Every
//! library uses the same 8 exponential buckets (measured's benches).

/// Scenario 3: one histogram, resolved once, observing a random value in
/// `[0, 1)` (drawn outside the timed region) from every thread.
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 50_000)]
mod s3_histogram_handle {
    use bykilt_bench::random_unit;
    use divan::Bencher;
    use measured::metric::histogram::Thresholds;
    use metrics_core::MetricType;

    use crate::labels::{self, BUCKETS, exponential_buckets};

    const NAME: &str = "http_request_duration_seconds";

    #[divan::bench]
    fn ours(b: Bencher) {
        let c = labels::collector_with_histogram(NAME, MetricType::Histogram, exponential_buckets(0.001));
        let h = c.histogram(NAME, &[]).unwrap();
        b.with_inputs(random_unit).bench_values(|v| h.record(v));
    }

    #[divan::bench]
    fn measured(b: Bencher) {
        let h = measured::Histogram::<BUCKETS>::with_metadata(Thresholds::<BUCKETS>::exponential_buckets(0.001, 2.0));
        b.with_inputs(random_unit).bench_values(|v| h.observe(v));
    }

    #[divan::bench]
    fn prometheus(b: Bencher) {
        let opts = prometheus::HistogramOpts::new(NAME, "help text").buckets(exponential_buckets(0.001));
        let h = prometheus::Histogram::with_opts(opts).unwrap();
        b.with_inputs(random_unit).bench_values(|v| h.observe(v));
    }

    #[divan::bench]
    fn prometheus_client(b: Bencher) {
        use prometheus_client::metrics::histogram::Histogram;
        let h = Histogram::new(exponential_buckets(0.001));
        b.with_inputs(random_unit).bench_values(|v| h.observe(v));
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        let r = labels::MetricsRecorder::new(NAME, Some(&exponential_buckets(0.001)));
        let h = metrics::with_local_recorder(&r.recorder, || metrics::histogram!(NAME));
        b.with_inputs(random_unit).bench_values(|v| h.record(v));
    }
}

/// Scenario 3 with measured's label lookup: find the histogram of a random
/// (kind, route) group among 18, then observe a random value.
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 50_000)]
mod s3b_histogram_label_lookup {
    use bykilt_bench::random_unit;
    use divan::Bencher;
    use measured::metric::histogram::Thresholds;
    use metrics_core::MetricType;

    use crate::labels::{self, BUCKETS, Error, ErrorStatic, Group, exponential_buckets, random_group};

    const NAME: &str = "http_request_duration_seconds";

    fn input() -> (Group, f64) {
        (random_group(), random_unit())
    }

    /// Our typed family of `L`, with the peers' buckets (it holds its
    /// series, so the collector may go).
    fn family<L: metrics_core::LabelSet>() -> metrics_core::HistogramFamily<L> {
        let buckets = metrics_core::Buckets::exponential(0.001, 2.0, BUCKETS).unwrap();
        labels::collector()
            .histogram_family_with_buckets::<L>(NAME, &buckets)
            .unwrap()
    }

    /// Our string tags, no handle: `observe_histogram`.
    #[divan::bench]
    fn ours(b: Bencher) {
        let c = labels::collector_with_histogram(NAME, MetricType::Histogram, exponential_buckets(0.001));
        b.with_inputs(input)
            .bench_values(|(g, v)| c.observe_histogram(NAME, &[("kind", g.kind_str), ("route", g.route)], v));
    }

    /// Our typed family, the route a `&str`.
    #[divan::bench]
    fn ours_typed(b: Bencher) {
        let f = family::<labels::ErrorLabels>();
        b.with_inputs(input).bench_values(|(g, v)| f.record(&g.typed(), v));
    }

    /// Our typed family, the route interned up front: keyed by its id.
    #[divan::bench]
    fn ours_typed_interned(b: Bencher) {
        let f = family::<labels::ErrorInterned>();
        b.with_inputs(input).bench_values(|(g, v)| f.record(&g.interned(), v));
    }

    /// Our typed family, both labels enums: a dense index.
    #[divan::bench]
    fn ours_typed_dense(b: Bencher) {
        let f = family::<labels::ErrorDense>();
        b.with_inputs(input).bench_values(|(g, v)| f.record(&g.dense(), v));
    }

    #[divan::bench]
    fn measured(b: Bencher) {
        let h = measured::HistogramVec::with_label_set_and_metadata(
            labels::errors_set(),
            Thresholds::<BUCKETS>::exponential_buckets(0.001, 2.0),
        );
        b.with_inputs(input).bench_values(|(g, v)| {
            h.observe(
                Error {
                    kind: g.kind,
                    route: g.route,
                },
                v,
            )
        });
    }

    #[divan::bench]
    fn measured_sparse(b: Bencher) {
        let h = measured::HistogramVec::sparse_with_label_set_and_metadata(
            labels::errors_set(),
            Thresholds::<BUCKETS>::exponential_buckets(0.001, 2.0),
        );
        b.with_inputs(input).bench_values(|(g, v)| {
            h.observe(
                Error {
                    kind: g.kind,
                    route: g.route,
                },
                v,
            )
        });
    }

    #[divan::bench]
    fn prometheus(b: Bencher) {
        let registry = prometheus::Registry::new();
        let h = prometheus::register_histogram_vec_with_registry!(
            NAME,
            "help text",
            &["kind", "route"],
            exponential_buckets(0.001),
            registry
        )
        .unwrap();
        b.with_inputs(input)
            .bench_values(|(g, v)| h.with_label_values(&[g.kind_str, g.route]).observe(v));
    }

    #[divan::bench]
    fn prometheus_client(b: Bencher) {
        use prometheus_client::metrics::{family::Family, histogram::Histogram};
        let mut registry = <prometheus_client::registry::Registry>::default();
        let h = Family::<ErrorStatic, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.001)));
        registry.register(NAME, "help text", h.clone());
        b.with_inputs(input).bench_values(|(g, v)| {
            h.get_or_create(&ErrorStatic {
                kind: g.kind,
                route: g.route,
            })
            .observe(v)
        });
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        let r = labels::MetricsRecorder::new(NAME, Some(&exponential_buckets(0.001)));
        metrics::with_local_recorder(&r.recorder, || {
            metrics::describe_histogram!(NAME, "help text");
        });
        b.with_inputs(input).bench_values(|(g, v)| {
            metrics::with_local_recorder(&r.recorder, || {
                let labels = [("kind", g.kind_str), ("route", g.route)];
                metrics::histogram!(NAME, &labels).record(v);
            });
        });
    }
}

/// Scenario 4: time an empty section on one series from every thread:
/// read the clock at start, read it again at stop, record the elapsed
/// seconds in the histogram (measured's "no cardinality" timer case).
#[divan::bench_group(threads = crate::THREADS, sample_count = 200, sample_size = 20_000)]
mod s4_timer {
    use std::time::Instant;

    use divan::Bencher;
    use measured::metric::histogram::Thresholds;
    use metrics_core::MetricType;

    use crate::labels::{self, BUCKETS, exponential_buckets};

    const NAME: &str = "section_duration_seconds";

    /// `Timer::start` returns a guard that records when dropped.
    #[divan::bench]
    fn ours(b: Bencher) {
        let c = labels::collector_with_histogram(NAME, MetricType::Timer, exponential_buckets(0.00001));
        let t = c.timer(NAME, &[]).unwrap();
        b.bench(|| drop(t.start()));
    }

    /// The same timer fed by hand: `Instant` read twice, `Timer::record`.
    #[divan::bench]
    fn ours_record_elapsed(b: Bencher) {
        let c = labels::collector_with_histogram(NAME, MetricType::Timer, exponential_buckets(0.00001));
        let t = c.timer(NAME, &[]).unwrap();
        b.bench(|| {
            let start = Instant::now();
            t.record(start.elapsed());
        });
    }

    #[divan::bench]
    fn measured(b: Bencher) {
        let h = measured::Histogram::<BUCKETS>::with_metadata(Thresholds::<BUCKETS>::exponential_buckets(0.00001, 2.0));
        b.bench(|| drop(h.start_timer()));
    }

    #[divan::bench]
    fn prometheus(b: Bencher) {
        let opts = prometheus::HistogramOpts::new(NAME, "help text").buckets(exponential_buckets(0.00001));
        let h = prometheus::Histogram::with_opts(opts).unwrap();
        b.bench(|| h.start_timer().stop_and_record());
    }

    #[divan::bench]
    fn prometheus_client(b: Bencher) {
        use prometheus_client::metrics::histogram::Histogram;
        let h = Histogram::new(exponential_buckets(0.00001));
        b.bench(|| {
            let start = Instant::now();
            h.observe(start.elapsed().as_secs_f64());
        });
    }

    #[divan::bench]
    fn metrics(b: Bencher) {
        let r = labels::MetricsRecorder::new(NAME, Some(&exponential_buckets(0.00001)));
        let h = metrics::with_local_recorder(&r.recorder, || metrics::histogram!(NAME));
        b.bench(|| {
            let start = Instant::now();
            h.record(start.elapsed().as_secs_f64());
        });
    }
}
