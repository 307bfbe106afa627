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
//!   one) and `# TYPE`; in OpenMetrics text a family whose series has a unit
//!   and whose name ends with `_<unit>` also has `# UNIT` (the spec requires
//!   the suffix; a unit the name does not carry is left out).
//!
//! Series whose names map to the same family are merged when they are
//! compatible (same kind and buckets: counters and histograms add up); when
//! they are not, the first series (by name) is kept and the other is listed
//! in [`Exposition::conflicts`] — a family is never emitted twice.

mod families;
mod names;
mod text;

pub use names::{family_names, sanitize_label_name, sanitize_metric_name};

use families::{Family, Kind, MergedPoints, Point, build_families, merged_points};
use text::{PointWriter, escape_help, push_raw_tag_pairs, push_sample, push_sample_value};

use crate::snapshot::exemplar::{BucketExemplar, Exemplar};
use crate::snapshot::{AggregateValue, Snapshot};
use crate::tags::TagSet;

/// Where [`encode_from`] reads the aggregates of the series of its shape
/// (a [`Snapshot`] of them, or the live series themselves).
pub(crate) trait AggregateSource {
    /// How many tag sets series `series` has (sizes the output).
    fn tag_sets(&self, series: usize) -> usize;
    /// Calls `f` with each tag set of series `series`, its aggregate and
    /// exemplars, in the order of [`SeriesSnapshot::aggregates`](crate::SeriesSnapshot::aggregates).
    fn for_each(&self, series: usize, f: &mut dyn FnMut(&TagSet, &AggregateValue, &[BucketExemplar]));
    /// [`for_each`](Self::for_each) for a counter or gauge series without
    /// exemplars: `f` gets each tag set and its value, in the same order.
    /// False, having called nothing, where the source cannot (the default)
    /// or the series is not such a series.
    fn for_each_scalar(&self, series: usize, f: &mut dyn FnMut(&TagSet, f64)) -> bool {
        let _ = (series, f);
        false
    }
}

impl AggregateSource for Snapshot {
    fn tag_sets(&self, series: usize) -> usize {
        self.series[series].aggregates.len()
    }

    fn for_each(&self, series: usize, f: &mut dyn FnMut(&TagSet, &AggregateValue, &[BucketExemplar])) {
        for a in &self.series[series].aggregates {
            f(&a.tags, &a.value, &a.exemplars);
        }
    }
}

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
    exposition_of(|out| encode_into(snapshot, format, out))
}

/// [`encode`], appending the text (UTF-8) to `out` and returning the
/// conflicts: a caller that keeps `out` between scrapes writes into memory
/// it already has.
pub fn encode_into(snapshot: &Snapshot, format: TextFormat, out: &mut Vec<u8>) -> Vec<NameConflict> {
    encode_from(snapshot, snapshot, format, out)
}

/// The [`Exposition`] of what `write` appends to an empty buffer.
pub(crate) fn exposition_of(write: impl FnOnce(&mut Vec<u8>) -> Vec<NameConflict>) -> Exposition {
    let mut out = Vec::new();
    let conflicts = write(&mut out);
    // Every piece written was a `&str` or ASCII, so this never falls back.
    let text = String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Exposition { text, conflicts }
}

/// [`encode_into`] of the series described by `shape` (names, types, help,
/// units, and for a histogram one aggregate with its bounds), whose
/// aggregates `source` gives.
pub(crate) fn encode_from(
    shape: &Snapshot,
    source: &dyn AggregateSource,
    format: TextFormat,
    out: &mut Vec<u8>,
) -> Vec<NameConflict> {
    let (families, mut conflicts) = build_families(shape);
    out.reserve(estimated_len(source, &families));
    let mut labels = Vec::new();
    for f in &families {
        let (type_name, sample_name) = match (format, f.kind) {
            (TextFormat::OpenMetrics, Kind::Counter) => (&f.om_name, &f.prom_name),
            _ => (&f.prom_name, &f.prom_name),
        };
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(type_name.as_bytes());
        out.push(b' ');
        escape_help(&f.help, out);
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(type_name.as_bytes());
        out.extend_from_slice(match f.kind {
            Kind::Counter => b" counter\n",
            Kind::Gauge => b" gauge\n",
            Kind::Histogram => b" histogram\n",
        });
        if let (TextFormat::OpenMetrics, Some(unit)) = (format, &f.unit) {
            out.extend_from_slice(b"# UNIT ");
            out.extend_from_slice(type_name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(unit.as_bytes());
            out.push(b'\n');
        }
        let writer = PointWriter::new(sample_name, &f.bounds, format);
        let samples_start = out.len();
        let direct = match f.members[..] {
            [only] => write_direct(source, only, f.kind, &writer, &mut labels, out),
            _ => false,
        };
        if !direct {
            out.truncate(samples_start);
            write_merged(&merged_points(shape, source, f, &mut conflicts), &writer, out);
        }
    }
    if format == TextFormat::OpenMetrics {
        out.extend_from_slice(b"# EOF\n");
    }
    conflicts
}

/// A little more than the text usually takes, so the buffer grows once.
fn estimated_len(source: &dyn AggregateSource, families: &[Family]) -> usize {
    families
        .iter()
        .map(|f| {
            let points: usize = f.members.iter().map(|&m| source.tag_sets(m)).sum();
            let lines = match f.kind {
                Kind::Histogram => f.bounds.len() + 3,
                Kind::Counter | Kind::Gauge => 1,
            };
            2 * f.prom_name.len() + f.help.len() + 32 + points * lines * (f.prom_name.len() + 48)
        })
        .sum::<usize>()
        + 8
}

/// Writes the aggregates of a family's only series as they are: labels are
/// copied from the stored tag sets, with no merging, sorting or renaming.
/// False (with `out` partly written) when a tag key would need sanitizing.
fn write_direct(
    source: &dyn AggregateSource,
    series: usize,
    kind: Kind,
    writer: &PointWriter<'_>,
    labels: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> bool {
    let histogram = kind == Kind::Histogram;
    let mut ok = true;
    if !histogram
        && source.for_each_scalar(series, &mut |tags, v| {
            ok = ok && push_scalar_line(writer, tags.as_bytes(), histogram, v, None, out);
        })
    {
        return ok;
    }
    source.for_each(series, &mut |tags, value, exemplars| {
        if !ok {
            return;
        }
        let raw = tags.as_bytes();
        match value {
            AggregateValue::Counter { total: v } | AggregateValue::Gauge { value: v } => {
                ok = push_scalar_line(writer, raw, histogram, *v, exemplars.first().map(|e| &e.exemplar), out);
            }
            AggregateValue::Histogram(h) => {
                labels.clear();
                if !push_raw_tag_pairs(raw, histogram, labels) {
                    ok = false;
                    return;
                }
                writer.histogram(
                    out,
                    labels,
                    h.buckets.iter().map(|b| b.count),
                    h.count,
                    h.sum,
                    h.count > 0 && h.min < 0.0,
                    exemplars,
                );
            }
        }
    });
    ok
}

/// One counter or gauge line, labels copied from the tag set's stored
/// bytes `raw` (`le` reserved when `histogram`): false (with `out` partly
/// written) when a key would need sanitizing.
#[inline]
fn push_scalar_line(
    writer: &PointWriter<'_>,
    raw: &[u8],
    histogram: bool,
    v: f64,
    exemplar: Option<&Exemplar>,
    out: &mut Vec<u8>,
) -> bool {
    out.extend_from_slice(writer.name.as_bytes());
    if !raw.is_empty() {
        out.push(b'{');
        if !push_raw_tag_pairs(raw, histogram, out) {
            return false;
        }
        out.push(b'}');
    }
    push_sample_value(v, out);
    if let Some(e) = exemplar {
        writer.exemplar(out, e);
    }
    true
}

/// Writes merged points in label order.
fn write_merged(points: &MergedPoints, writer: &PointWriter<'_>, out: &mut Vec<u8>) {
    for (labels, point) in points {
        match point {
            Point::Counter(v) | Point::Gauge(v) => push_sample(out, writer.name, "", labels, None, *v),
            Point::Histogram {
                buckets,
                count,
                sum,
                negative,
            } => writer.histogram(out, labels, buckets.iter().copied(), *count, *sum, *negative, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricOptions, MetricType, MetricsCollector};

    fn text(c: &MetricsCollector, f: TextFormat) -> String {
        let e = encode(&c.aggregate_snapshot(), f);
        assert_eq!(c.exposition(f), e, "written from the live series, the same text");
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
    fn a_series_with_keys_to_sanitize_is_written_once_merged_and_sorted() {
        // The first tag sets could be copied as they are; a later key needs
        // renaming, so the whole series goes through merging instead.
        let c = MetricsCollector::default();
        for (tags, n) in [
            (&[("z", "1")][..], 1.0),
            (&[("a", "q\"")][..], 2.0),
            (&[("b.c", "2")][..], 3.0),
            (&[("b_c", "2")][..], 4.0),
        ] {
            c.record_metric("x", n, tags, MetricType::Counter).unwrap();
        }
        let expected = "# HELP x_total The counter x.\n# TYPE x_total counter\n\
            x_total{a=\"q\\\"\"} 2.0\n\
            x_total{b_c=\"2\"} 7.0\n\
            x_total{z=\"1\"} 1.0\n";
        assert_eq!(text(&c, TextFormat::Prometheus), expected);
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
