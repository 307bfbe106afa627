//! Scenario 7: encode N counter series (one family, one `kind` label with
//! N distinct values) as Prometheus text, as measured's encoding bench does.
//! Each timed call includes whatever snapshot or gather step the library
//! needs before writing.

#[divan::bench_group(threads = 1, sample_count = 10, sample_size = 1)]
mod s7_encode {
    use divan::{Bencher, black_box};
    use measured::text::BufferedTextEncoder;
    use measured::{CounterVec, LabelGroup, MetricGroup};
    use metrics_core::export::prometheus::{TextFormat, encode};
    use paracord::ParaCord;
    use prometheus_client::encoding::EncodeLabelSet;

    use crate::labels;

    const SIZES: &[usize] = &[10_000, 100_000];

    #[divan::bench(consts = SIZES)]
    fn ours<const N: usize>(b: Bencher) {
        let c = labels::collector();
        for i in 0..N {
            let kind = i.to_string();
            c.increment_counter("counters", &[("kind", kind.as_str())], 1).unwrap();
        }
        b.bench_local(|| encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text);
    }

    #[derive(MetricGroup)]
    struct Metrics {
        /// help text
        counters: CounterVec<GroupSet>,
    }

    #[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
    #[label(set = GroupSet)]
    struct Group<'a> {
        #[label(dynamic_with = ParaCord)]
        kind: &'a str,
    }

    #[divan::bench(consts = SIZES)]
    fn measured<const N: usize>(b: Bencher) {
        let metrics = Metrics {
            counters: CounterVec::with_label_set(GroupSet {
                kind: ParaCord::default(),
            }),
        };
        for i in 0..N {
            let kind = i.to_string();
            metrics.counters.inc(Group { kind: &kind });
        }
        let mut enc = BufferedTextEncoder::new();
        b.bench_local(|| {
            metrics.collect_group_into(&mut enc).unwrap();
            enc.finish()
        });
    }

    #[divan::bench(consts = SIZES)]
    fn prometheus<const N: usize>(b: Bencher) {
        let registry = prometheus::Registry::new();
        let counters =
            prometheus::register_int_counter_vec_with_registry!("counters", "help text", &["kind"], registry).unwrap();
        for i in 0..N {
            counters.with_label_values(&[i.to_string().as_str()]).inc();
        }
        let mut out = String::new();
        b.bench_local(|| {
            out.clear();
            prometheus::TextEncoder::new()
                .encode_utf8(&registry.gather(), &mut out)
                .unwrap();
            black_box(&out);
        });
    }

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct GroupStatic {
        kind: String,
    }

    #[divan::bench(consts = SIZES)]
    fn prometheus_client<const N: usize>(b: Bencher) {
        use prometheus_client::metrics::{counter::Counter, family::Family};
        let mut registry = <prometheus_client::registry::Registry>::default();
        let counters = Family::<GroupStatic, Counter>::default();
        registry.register("counters", "help text", counters.clone());
        for i in 0..N {
            counters.get_or_create(&GroupStatic { kind: i.to_string() }).inc();
        }
        let mut out = String::new();
        b.bench_local(|| {
            out.clear();
            prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
            black_box(&out);
        });
    }

    #[divan::bench(consts = SIZES)]
    fn metrics<const N: usize>(b: Bencher) {
        let r = labels::MetricsRecorder::new("counters", None);
        metrics::with_local_recorder(&r.recorder, || {
            metrics::describe_counter!("counters", "help text");
            for i in 0..N {
                let labels = [("kind", i.to_string())];
                metrics::counter!("counters", &labels).increment(1);
            }
        });
        let handle = r.recorder.handle();
        b.bench_local(|| handle.render());
    }
}
