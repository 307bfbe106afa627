//! Scenario 7's fixtures, shared by the divan bench and the instruction
//! counter: per library, one family of `n` counter series (a `kind` label
//! with `n` distinct values) and the step that encodes it as Prometheus
//! text, including whatever snapshot or gather step the library needs.

use measured::text::BufferedTextEncoder;
use measured::{CounterVec, LabelGroup, MetricGroup};
use metrics_core::export::prometheus::TextFormat;
use paracord::ParaCord;
use prometheus_client::encoding::EncodeLabelSet;

use crate::labels;

/// Encodes the family once; returns the number of bytes written.
pub type Encode = Box<dyn FnMut() -> usize>;

#[derive(MetricGroup)]
struct Metrics {
    /// help text
    counters: CounterVec<GroupSet>,
}

/// measured needs a dynamic label for `n` series: ParaCord, as in its own
/// encoding bench.
#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = GroupSet)]
struct Group<'a> {
    #[label(dynamic_with = ParaCord)]
    kind: &'a str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupStatic {
    kind: String,
}

/// `library`'s family of `n` series, ready to encode; `None` for an
/// unknown library.
pub fn encoder(library: &str, n: usize) -> Option<Encode> {
    let kinds: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    Some(match library {
        "ours" => {
            let c = labels::collector();
            for k in &kinds {
                c.increment_counter("counters", &[("kind", k.as_str())], 1).unwrap();
            }
            // A kept buffer, as the peers below keep theirs.
            let mut out = Vec::new();
            Box::new(move || {
                out.clear();
                c.exposition_into(TextFormat::Prometheus, &mut out);
                out.len()
            })
        }
        "measured" => {
            let metrics = Metrics {
                counters: CounterVec::with_label_set(GroupSet {
                    kind: ParaCord::default(),
                }),
            };
            for k in &kinds {
                metrics.counters.inc(Group { kind: k });
            }
            let mut enc = BufferedTextEncoder::new();
            Box::new(move || {
                metrics.collect_group_into(&mut enc).unwrap();
                enc.finish().len()
            })
        }
        "prometheus" => {
            let registry = prometheus::Registry::new();
            let counters =
                prometheus::register_int_counter_vec_with_registry!("counters", "help text", &["kind"], registry)
                    .unwrap();
            for k in &kinds {
                counters.with_label_values(&[k.as_str()]).inc();
            }
            let mut out = String::new();
            Box::new(move || {
                out.clear();
                prometheus::TextEncoder::new()
                    .encode_utf8(&registry.gather(), &mut out)
                    .unwrap();
                out.len()
            })
        }
        "prometheus_client" => {
            use prometheus_client::metrics::{counter::Counter, family::Family};
            let mut registry = <prometheus_client::registry::Registry>::default();
            let counters = Family::<GroupStatic, Counter>::default();
            registry.register("counters", "help text", counters.clone());
            for k in kinds {
                counters.get_or_create(&GroupStatic { kind: k }).inc();
            }
            let mut out = String::new();
            Box::new(move || {
                out.clear();
                prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
                out.len()
            })
        }
        "metrics" => {
            let r = labels::MetricsRecorder::new("counters", None);
            metrics::with_local_recorder(&r.recorder, || {
                metrics::describe_counter!("counters", "help text");
                for k in &kinds {
                    metrics::counter!("counters", &[("kind", k.clone())]).increment(1);
                }
            });
            let handle = r.recorder.handle();
            Box::new(move || {
                let _keep = &r;
                handle.render().len()
            })
        }
        _ => return None,
    })
}
