//! Prometheus text exposition (0.0.4) and OpenMetrics 1.0 text, from the
//! cumulative aggregates of a [`Snapshot`].
//!
//! How names map (see `docs/prometheus.md`):
//! * metric names become `[a-zA-Z_:][a-zA-Z0-9_:]*`: every other character is
//!   replaced by `_`, and a leading digit gets a `_` prefix
//!   (`job.status_change` → `job_status_change`);
//! * counters end in `_total`; timers are histograms in seconds ending in
//!   `_seconds`; histograms expose `_bucket{le=…}` (cumulative, ending with
//!   `+Inf`), `_sum` and `_count`;
//! * tag keys become label names `[a-zA-Z_][a-zA-Z0-9_]*`; keys that would
//!   clash with Prometheus' own (`__*`, and `le` on histograms) get a `tag_`
//!   prefix; label values are escaped (`\\`, `\"`, `\n`);
//! * every family has `# HELP` (the registered description, or a generated
//!   one) and `# TYPE`.
//!
//! Series whose names map to the same family are merged when they are
//! compatible (same kind and buckets: counters and histograms add up); when
//! they are not, the first series (by name) is kept and the other is listed
//! in [`Exposition::conflicts`] — a family is never emitted twice.

mod families;
mod names;
mod text;

pub use names::{family_names, sanitize_label_name, sanitize_metric_name};

use families::{Kind, Point, Points, build_families};
use text::{PointWriter, escape_help, push_label_pairs, push_sample};

use crate::snapshot::{AggregateValue, Snapshot};

/// Which text format to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextFormat {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text, ending with `# EOF`.
    OpenMetrics,
}

impl TextFormat {
    /// The HTTP `Content-Type` of the format.
    pub const fn content_type(self) -> &'static str {
        match self {
            TextFormat::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            TextFormat::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a scraper asks for in its `Accept` header: OpenMetrics when
    /// it names `application/openmetrics-text`, Prometheus text otherwise.
    pub fn from_accept(accept: &str) -> TextFormat {
        if accept.to_ascii_lowercase().contains("application/openmetrics-text") {
            TextFormat::OpenMetrics
        } else {
            TextFormat::Prometheus
        }
    }
}

/// A series left out of the exposition because its name maps onto a family
/// it cannot be merged with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameConflict {
    /// The series that was left out.
    pub series: String,
    /// The exposition name both map to.
    pub family: String,
    /// What is incompatible.
    pub reason: String,
}

/// Encoded text plus what could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposition {
    /// The exposition text.
    pub text: String,
    /// Series (or tag sets) left out, with why.
    pub conflicts: Vec<NameConflict>,
}

/// Encodes the aggregates of `snapshot` in `format`.
///
/// ```
/// use metrics_core::{MetricsCollector, MetricType};
/// use metrics_core::export::prometheus::{encode, TextFormat};
/// let c = MetricsCollector::default();
/// c.record_metric("jobs.completed", 3.0, &[("queue", "a")], MetricType::Counter)?;
/// let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
/// assert!(text.contains("# TYPE jobs_completed_total counter\n"));
/// assert!(text.contains("jobs_completed_total{queue=\"a\"} 3.0\n"));
/// # Ok::<(), metrics_core::MetricsError>(())
/// ```
pub fn encode(snapshot: &Snapshot, format: TextFormat) -> Exposition {
    let (families, conflicts) = build_families(snapshot);
    let points: usize = snapshot.series.iter().map(|s| s.aggregates.len()).sum();
    let mut out = String::with_capacity(families.len() * 96 + points * 64);
    let mut labels = String::new();
    for f in &families {
        let (type_name, sample_name) = match (format, f.kind) {
            (TextFormat::OpenMetrics, Kind::Counter) => (&f.om_name, &f.prom_name),
            _ => (&f.prom_name, &f.prom_name),
        };
        out.push_str("# HELP ");
        out.push_str(type_name);
        out.push(' ');
        escape_help(&f.help, &mut out);
        out.push_str("\n# TYPE ");
        out.push_str(type_name);
        out.push_str(match f.kind {
            Kind::Counter => " counter\n",
            Kind::Gauge => " gauge\n",
            Kind::Histogram => " histogram\n",
        });
        let writer = PointWriter {
            name: sample_name,
            bounds: &f.bounds,
            format,
        };
        match &f.points {
            Points::Direct(i) => {
                for agg in &snapshot.series[*i].aggregates {
                    labels.clear();
                    push_label_pairs(agg.tags.iter(), &mut labels);
                    match &agg.value {
                        AggregateValue::Counter { total: v } | AggregateValue::Gauge { value: v } => {
                            push_sample(&mut out, sample_name, "", &labels, None, *v);
                        }
                        AggregateValue::Histogram(h) => writer.histogram(
                            &mut out,
                            &labels,
                            h.buckets.iter().map(|b| b.count),
                            h.count,
                            h.sum,
                            h.count > 0 && h.min < 0.0,
                        ),
                    }
                }
            }
            Points::Merged(points) => {
                for (labels, point) in points {
                    match point {
                        Point::Counter(v) | Point::Gauge(v) => push_sample(&mut out, sample_name, "", labels, None, *v),
                        Point::Histogram {
                            buckets,
                            count,
                            sum,
                            negative,
                        } => writer.histogram(&mut out, labels, buckets.iter().copied(), *count, *sum, *negative),
                    }
                }
            }
        }
    }
    if format == TextFormat::OpenMetrics {
        out.push_str("# EOF\n");
    }
    Exposition { text: out, conflicts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricOptions, MetricType, MetricsCollector};

    fn text(c: &MetricsCollector, f: TextFormat) -> String {
        let e = encode(&c.aggregate_snapshot(), f);
        assert!(e.conflicts.is_empty(), "{:?}", e.conflicts);
        e.text
    }

    #[test]
    fn names_and_suffixes() {
        assert_eq!(
            family_names("jobs", MetricType::Counter),
            ("jobs_total".into(), "jobs".into())
        );
        assert_eq!(
            family_names("jobs_total", MetricType::Counter),
            ("jobs_total".into(), "jobs".into())
        );
        assert_eq!(
            family_names("job.run", MetricType::Timer),
            ("job_run_seconds".into(), "job_run_seconds".into())
        );
        assert_eq!(family_names("a-b c", MetricType::Gauge).0, "a_b_c");
        assert_eq!(sanitize_label_name("__name__", false), "tag___name__");
        assert_eq!(sanitize_label_name("le", true), "tag_le");
        assert_eq!(sanitize_label_name("le", false), "le");
        assert_eq!(sanitize_label_name("http.method", false), "http_method");
    }

    #[test]
    fn histogram_lines_are_cumulative_with_inf() {
        let c = MetricsCollector::default();
        c.describe_metric(
            "latency",
            MetricType::Histogram,
            MetricOptions {
                buckets: Some(vec![1.0, 2.0]),
                description: Some("Latency\nin \\ms".into()),
                ..Default::default()
            },
        )
        .unwrap();
        for v in [0.5, 1.5, 3.0] {
            c.record_metric("latency", v, &[("le", "x")], MetricType::Histogram)
                .unwrap();
        }
        let t = text(&c, TextFormat::Prometheus);
        let expected = "# HELP latency Latency\\nin \\\\ms\n# TYPE latency histogram\n\
            latency_bucket{tag_le=\"x\",le=\"1.0\"} 1.0\n\
            latency_bucket{tag_le=\"x\",le=\"2.0\"} 2.0\n\
            latency_bucket{tag_le=\"x\",le=\"+Inf\"} 3.0\n\
            latency_sum{tag_le=\"x\"} 5.0\n\
            latency_count{tag_le=\"x\"} 3.0\n";
        assert_eq!(t, expected);
    }

    #[test]
    fn openmetrics_counter_family_and_eof() {
        let c = MetricsCollector::default();
        c.record_metric("hits", 2.0, &[("path", "a\"b\\c\nd")], MetricType::Counter)
            .unwrap();
        let t = text(&c, TextFormat::OpenMetrics);
        assert!(
            t.starts_with("# HELP hits The counter hits.\n# TYPE hits counter\n"),
            "{t}"
        );
        assert!(t.contains("hits_total{path=\"a\\\"b\\\\c\\nd\"} 2.0\n"), "{t}");
        assert!(t.ends_with("# EOF\n"));
    }

    #[test]
    fn clashing_names_merge_or_are_reported() {
        let c = MetricsCollector::default();
        c.record_metric("a.b", 1.0, &[], MetricType::Counter).unwrap();
        c.record_metric("a_b", 2.0, &[], MetricType::Counter).unwrap();
        c.record_metric("a_b_total", 4.0, &[("x", "1")], MetricType::Counter)
            .unwrap();
        c.record_metric("g.x", 1.0, &[], MetricType::Gauge).unwrap();
        c.record_metric("g_x", 2.0, &[], MetricType::Gauge).unwrap();
        c.record_metric("a_b_total_count", 1.0, &[], MetricType::Gauge).unwrap();
        let e = encode(&c.aggregate_snapshot(), TextFormat::Prometheus);
        assert!(e.text.contains("a_b_total 3.0\n"), "{}", e.text);
        assert!(e.text.contains("a_b_total{x=\"1\"} 4.0\n"), "{}", e.text);
        assert_eq!(e.text.matches("# TYPE a_b_total counter").count(), 1);
        assert_eq!(e.text.matches("# TYPE g_x gauge").count(), 1);
        assert_eq!(e.conflicts.len(), 1, "{:?}", e.conflicts);
        assert_eq!(e.conflicts[0].series, "g_x");
        // A gauge and a counter family that claim the same name.
        let c = MetricsCollector::default();
        c.record_metric("n", 1.0, &[], MetricType::Counter).unwrap();
        c.record_metric("n_total", 1.0, &[], MetricType::Gauge).unwrap();
        let e = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics);
        assert_eq!(e.conflicts.len(), 1);
        assert_eq!(e.conflicts[0].series, "n_total");
    }

    #[test]
    fn negative_observations_drop_sum_in_openmetrics_only() {
        let c = MetricsCollector::default();
        c.record_metric("delta", -1.0, &[], MetricType::Histogram).unwrap();
        assert!(text(&c, TextFormat::Prometheus).contains("delta_sum -1.0\n"));
        assert!(!text(&c, TextFormat::OpenMetrics).contains("delta_sum"));
    }

    #[test]
    fn accept_header_negotiation() {
        assert_eq!(
            TextFormat::from_accept("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            TextFormat::OpenMetrics
        );
        assert_eq!(TextFormat::from_accept("text/plain"), TextFormat::Prometheus);
        assert_eq!(TextFormat::from_accept(""), TextFormat::Prometheus);
    }
}
