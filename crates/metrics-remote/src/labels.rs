//! Remote-write label sets named exactly as the Prometheus text exporter of
//! `metrics-core` names them, so a scrape and a remote write produce the
//! same series.
//!
//! Metric and label names come from the exporter's public sanitizers
//! ([`family_names`], [`sanitize_label_name`]); tag keys that sanitize alike
//! get the same `_2`, `_3`… suffixes, and bucket bounds the same `le`
//! spelling (`1.0`, `0.005`, `+Inf`). The aggregates themselves are read
//! back from the exporter's own text ([`text_aggregates`]), which is what a
//! scrape sees, merges of clashing names included. A unit test checks the
//! two paths agree.

use metrics_core::MetricType;
use metrics_core::TagSet;
use metrics_core::export::prometheus::{family_names, sanitize_label_name};

use crate::proto::prw::Label;

/// The labels of a series, sorted by name, `__name__` included.
pub(crate) type LabelSet = Vec<Label>;

/// `name{k="v",…}` with values escaped as in the text format: one series'
/// identity, used as its key in a [`SendPosition`](crate::SendPosition).
pub(crate) fn series_key(labels: &[Label]) -> String {
    let mut name = "";
    let mut out = String::new();
    for l in labels {
        if l.name == "__name__" {
            name = &l.value;
            continue;
        }
        out.push(if out.is_empty() { '{' } else { ',' });
        out.push_str(&l.name);
        out.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !out.is_empty() {
        out.push('}');
    }
    format!("{name}{out}")
}

/// The sample name a series' values carry in the text format (counters end
/// in `_total`, timers in `_seconds`).
pub(crate) fn sample_name(name: &str, ty: MetricType) -> String {
    family_names(name, ty).0
}

/// Tag pairs as label pairs: keys sanitized, sorted, duplicates suffixed.
pub(crate) fn tag_labels(tags: &TagSet, histogram: bool) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = tags
        .iter()
        .map(|(k, v)| (sanitize_label_name(k, histogram), v.to_owned()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    for i in 1..pairs.len() {
        let base = pairs[i].0.clone();
        let mut n = 2;
        while pairs[..i].iter().any(|(k, _)| *k == pairs[i].0) {
            pairs[i].0 = format!("{base}_{n}");
            n += 1;
        }
    }
    pairs
}

/// A sorted label set from a sample name, label pairs and an optional `le`.
pub(crate) fn label_set(name: &str, pairs: &[(String, String)], le: Option<&str>) -> LabelSet {
    let mut labels: LabelSet = Vec::with_capacity(pairs.len() + 2);
    labels.push(Label {
        name: "__name__".into(),
        value: name.into(),
    });
    labels.extend(pairs.iter().map(|(k, v)| Label {
        name: k.clone(),
        value: v.clone(),
    }));
    if let Some(le) = le {
        labels.push(Label {
            name: "le".into(),
            value: le.into(),
        });
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

/// A bucket bound as the text exporter writes it: whole numbers below 10¹⁵
/// as digits and `.0`, others in Rust's shortest round-trip form, `+Inf`.
pub(crate) fn le_value(v: f64) -> String {
    let whole = v as i64;
    if whole as f64 == v && whole.unsigned_abs() < 1_000_000_000_000_000 {
        format!("{whole}.0")
    } else if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// One sample line of the text exposition: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextSample {
    /// Sorted labels, `__name__` included.
    pub(crate) labels: LabelSet,
    /// The value.
    pub(crate) value: f64,
}

/// The sample lines of Prometheus text (as the exporter writes it: no
/// timestamps, `"`-quoted values with `\\`, `\"`, `\n` escapes). Lines that
/// do not parse are skipped; the exporter writes none.
pub(crate) fn text_aggregates(text: &str) -> Vec<TextSample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<TextSample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = parse_value(value)?;
    let (name, mut rest) = match series.find('{') {
        Some(i) => (&series[..i], &series[i + 1..]),
        None => (series, ""),
    };
    let mut pairs = Vec::new();
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches(',');
        let mut v = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, other)) => v.push(other),
                    None => return None,
                },
                '"' => {
                    end = Some(eq + 2 + i + 1);
                    break;
                }
                c => v.push(c),
            }
        }
        pairs.push((key.to_owned(), v));
        rest = &rest[end?..];
    }
    let mut labels = label_set(name, &pairs, None);
    labels.dedup();
    Some(TextSample { labels, value })
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        v => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_core::MetricsCollector;
    use metrics_core::export::prometheus::{TextFormat, encode};

    #[test]
    fn le_is_written_as_the_exporter_writes_it() {
        for (v, s) in [
            (1.0, "1.0"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (1e20, "100000000000000000000"),
            (f64::INFINITY, "+Inf"),
            (-3.0, "-3.0"),
        ] {
            assert_eq!(le_value(v), s);
        }
    }

    #[test]
    fn parsed_text_round_trips_escapes_and_sorts() {
        let t = "# TYPE x counter\nx_total{z=\"1\",a=\"q\\\"\\\\\\n\"} 2.0\nup 1\n";
        let s = text_aggregates(t);
        assert_eq!(s.len(), 2);
        assert_eq!(series_key(&s[0].labels), "x_total{a=\"q\\\"\\\\\\n\",z=\"1\"}");
        assert_eq!(s[0].labels[0].name, "__name__");
        assert_eq!(s[0].labels[1].value, "q\"\\\n");
        assert_eq!(s[1].value, 1.0);
    }

    /// Every label set built from the tags equals one the exporter wrote.
    #[test]
    fn tag_labels_match_the_text_exporter() {
        let c = MetricsCollector::default();
        let tricky: &[(&str, &str)] = &[("b.c", "1"), ("b_c", "2"), ("__x", "3"), ("9z", "4"), ("le", "5")];
        c.record_metric("req.count", 1.0, tricky, MetricType::Counter).unwrap();
        c.record_metric("lat", 0.3, tricky, MetricType::Histogram).unwrap();
        c.record_metric("job.run", 0.3, &[("a", "x\"y")], MetricType::Timer)
            .unwrap();
        c.record_metric("temp", 3.5, &[("Zone", "n")], MetricType::Gauge)
            .unwrap();
        let snap = c.aggregate_snapshot();
        let text = encode(&snap, TextFormat::Prometheus).text;
        let written: Vec<String> = text_aggregates(&text).iter().map(|s| series_key(&s.labels)).collect();
        for s in &snap.series {
            let h = matches!(s.metric_type, MetricType::Histogram | MetricType::Timer);
            for a in &s.aggregates {
                let pairs = tag_labels(&a.tags, h);
                let name = sample_name(&s.name, s.metric_type);
                let key = if h {
                    let first = s.aggregates[0].value.clone();
                    let le = match first {
                        metrics_core::AggregateValue::Histogram(h) => le_value(h.buckets[0].le),
                        _ => unreachable!(),
                    };
                    series_key(&label_set(&format!("{name}_bucket"), &pairs, Some(&le)))
                } else {
                    series_key(&label_set(&name, &pairs, None))
                };
                assert!(written.contains(&key), "{key} not in {written:?}");
            }
        }
    }
}
