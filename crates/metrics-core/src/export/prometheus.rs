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

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::snapshot::{AggregateValue, HistogramSnapshot, SeriesSnapshot, Snapshot};
use crate::tags::TagSet;
use crate::types::MetricType;

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

/// Maps a metric name to `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// ```
/// use metrics_core::export::prometheus::sanitize_metric_name;
/// assert_eq!(sanitize_metric_name("job.status_change"), "job_status_change");
/// assert_eq!(sanitize_metric_name("9lives"), "_9lives");
/// ```
pub fn sanitize_metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push(if ok { c } else { '_' });
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Maps a tag key to a label name `[a-zA-Z_][a-zA-Z0-9_]*`, prefixing
/// `tag_` to names Prometheus reserves (`__*`, and `le` when `histogram`).
pub fn sanitize_label_name(key: &str, histogram: bool) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        out.push(if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' });
    }
    if out.is_empty() {
        out.push('_');
    }
    if out.starts_with("__") || (histogram && out == "le") {
        out.insert_str(0, "tag_");
    }
    out
}

/// The family names of a series: (Prometheus `# TYPE` name, OpenMetrics
/// `# TYPE` name). They differ only for counters, whose OpenMetrics family
/// drops the `_total` its samples carry.
pub fn family_names(name: &str, ty: MetricType) -> (String, String) {
    let base = sanitize_metric_name(name);
    match ty {
        MetricType::Counter => {
            let stem = base.strip_suffix("_total").unwrap_or(&base).to_owned();
            (format!("{stem}_total"), stem)
        }
        MetricType::Timer if !base.ends_with("_seconds") => {
            let n = format!("{base}_seconds");
            (n.clone(), n)
        }
        _ => (base.clone(), base),
    }
}

fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_u64(mut n: u64, out: &mut String) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Writes a float the way Prometheus clients do (`+Inf`, `NaN`, `1.0`).
fn push_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        if v < 0.0 {
            out.push('-');
        }
        push_u64(v.abs() as u64, out);
        out.push_str(".0");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
enum Point {
    Counter(f64),
    Gauge(f64),
    Histogram {
        buckets: Vec<u64>,
        count: u64,
        sum: f64,
        negative: bool,
    },
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    prom_name: String,
    om_name: String,
    help: String,
    bounds: Vec<f64>,
    /// Indices into the snapshot's series.
    members: Vec<usize>,
    points: Points,
}

#[derive(Debug)]
enum Points {
    /// One series whose tag keys are already valid label names: its
    /// aggregates are written as they are, with no merging or copying.
    Direct(usize),
    /// Rendered label pairs (without braces) → merged point.
    Merged(BTreeMap<String, Point>),
}

/// Whether `key` is a label name as it is (no sanitizing, no reserved name).
fn is_clean_label(key: &str, histogram: bool) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with("__")
        && !(histogram && key == "le")
}

fn point_of(value: &AggregateValue) -> Point {
    match value {
        AggregateValue::Counter { total } => Point::Counter(*total),
        AggregateValue::Gauge { value } => Point::Gauge(*value),
        AggregateValue::Histogram(h) => histogram_point(h),
    }
}

fn kind_of(ty: MetricType) -> Kind {
    match ty {
        MetricType::Counter => Kind::Counter,
        MetricType::Gauge => Kind::Gauge,
        MetricType::Histogram | MetricType::Timer => Kind::Histogram,
    }
}

fn render_labels(tags: &TagSet, histogram: bool) -> String {
    let mut pairs: Vec<(String, &str)> = tags
        .iter()
        .map(|(k, v)| (sanitize_label_name(k, histogram), v))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    // Keys that sanitize alike get a numeric suffix so no label repeats.
    for i in 1..pairs.len() {
        let base = pairs[i].0.clone();
        let mut n = 2;
        while pairs[..i].iter().any(|(k, _)| *k == pairs[i].0) {
            pairs[i].0 = format!("{base}_{n}");
            n += 1;
        }
    }
    let mut out = String::new();
    push_label_pairs(pairs.iter().map(|(k, v)| (k.as_str(), *v)), &mut out);
    out
}

fn push_label_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label_value(v, out);
        out.push('"');
    }
}

fn histogram_point(h: &HistogramSnapshot) -> Point {
    Point::Histogram {
        buckets: h.buckets.iter().map(|b| b.count).collect(),
        count: h.count,
        sum: h.sum,
        negative: h.count > 0 && h.min < 0.0,
    }
}

/// Merges `new` into `old`; false when they cannot be merged (gauges).
fn merge_point(old: &mut Point, new: Point) -> bool {
    match (old, new) {
        (Point::Counter(a), Point::Counter(b)) => {
            *a += b;
            true
        }
        (
            Point::Histogram {
                buckets,
                count,
                sum,
                negative,
            },
            Point::Histogram {
                buckets: b2,
                count: c2,
                sum: s2,
                negative: n2,
            },
        ) if buckets.len() == b2.len() => {
            buckets.iter_mut().zip(b2).for_each(|(a, b)| *a += b);
            *count += c2;
            *sum += s2;
            *negative |= n2;
            true
        }
        _ => false,
    }
}

fn default_help(s: &SeriesSnapshot) -> String {
    match s.metric_type {
        MetricType::Timer => format!("Durations of {} in seconds.", s.name),
        ty => format!("The {ty} {}.", s.name),
    }
}

fn build_families(snapshot: &Snapshot) -> (Vec<Family>, Vec<NameConflict>) {
    let mut families: Vec<Family> = Vec::new();
    let mut conflicts = Vec::new();
    // Every name a family puts in the text → the family's index.
    let mut claimed: HashMap<String, usize> = HashMap::new();
    for (series_index, s) in snapshot.series.iter().enumerate() {
        let kind = kind_of(s.metric_type);
        let (prom_name, om_name) = family_names(&s.name, s.metric_type);
        let bounds: Vec<f64> = s
            .aggregates
            .iter()
            .find_map(|a| match &a.value {
                AggregateValue::Histogram(h) => Some(h.buckets.iter().map(|b| b.le).collect()),
                _ => None,
            })
            .unwrap_or_default();
        let idx = match claimed.get(&om_name).copied() {
            Some(i)
                if families[i].kind == kind && families[i].om_name == om_name && families[i].prom_name == prom_name =>
            {
                if kind == Kind::Histogram && families[i].bounds != bounds && !s.aggregates.is_empty() {
                    conflicts.push(NameConflict {
                        series: s.name.clone(),
                        family: prom_name,
                        reason: "histogram buckets differ from the series already in this family".into(),
                    });
                    continue;
                }
                i
            }
            _ => {
                let names = match kind {
                    Kind::Histogram => vec![
                        om_name.clone(),
                        format!("{om_name}_bucket"),
                        format!("{om_name}_sum"),
                        format!("{om_name}_count"),
                    ],
                    _ => vec![om_name.clone(), prom_name.clone()],
                };
                if let Some(other) = names.iter().find_map(|n| claimed.get(n)) {
                    conflicts.push(NameConflict {
                        series: s.name.clone(),
                        family: prom_name,
                        reason: format!("its names clash with the family {:?}", families[*other].prom_name),
                    });
                    continue;
                }
                let i = families.len();
                for n in names {
                    claimed.insert(n, i);
                }
                families.push(Family {
                    kind,
                    prom_name,
                    om_name,
                    help: s.description.clone().unwrap_or_else(|| default_help(s)),
                    bounds,
                    members: Vec::new(),
                    points: Points::Merged(BTreeMap::new()),
                });
                i
            }
        };
        families[idx].members.push(series_index);
    }
    for family in &mut families {
        let histogram = family.kind == Kind::Histogram;
        if let [only] = family.members[..] {
            let clean = snapshot.series[only]
                .aggregates
                .iter()
                .all(|a| a.tags.keys().all(|k| is_clean_label(k, histogram)));
            if clean {
                family.points = Points::Direct(only);
                continue;
            }
        }
        let mut points = BTreeMap::new();
        for &m in &family.members {
            let s = &snapshot.series[m];
            for agg in &s.aggregates {
                let labels = render_labels(&agg.tags, histogram);
                match points.get_mut(&labels) {
                    None => {
                        points.insert(labels, point_of(&agg.value));
                    }
                    Some(old) => {
                        if !merge_point(old, point_of(&agg.value)) {
                            conflicts.push(NameConflict {
                                series: s.name.clone(),
                                family: family.prom_name.clone(),
                                reason: format!("gauge with labels {{{labels}}} is already exposed by another series"),
                            });
                        }
                    }
                }
            }
        }
        family.points = Points::Merged(points);
    }
    (families, conflicts)
}

fn push_sample(out: &mut String, name: &str, suffix: &str, labels: &str, extra: Option<(&str, &str)>, v: f64) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((k, val)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(val);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    push_float(v, out);
    out.push('\n');
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

struct PointWriter<'a> {
    name: &'a str,
    bounds: &'a [f64],
    format: TextFormat,
}

impl PointWriter<'_> {
    fn histogram(
        &self,
        out: &mut String,
        labels: &str,
        cumulative: impl Iterator<Item = u64>,
        count: u64,
        sum: f64,
        negative: bool,
    ) {
        let mut le = String::new();
        for (bound, c) in self.bounds.iter().zip(cumulative) {
            le.clear();
            push_float(*bound, &mut le);
            push_sample(out, self.name, "_bucket", labels, Some(("le", &le)), c as f64);
        }
        push_sample(out, self.name, "_bucket", labels, Some(("le", "+Inf")), count as f64);
        // OpenMetrics forbids `_sum` when observations can be negative.
        if self.format == TextFormat::Prometheus || !negative {
            push_sample(out, self.name, "_sum", labels, None, sum);
        }
        push_sample(out, self.name, "_count", labels, None, count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricOptions, MetricsCollector};

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
