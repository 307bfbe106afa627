//! Exposition names: metric and label names mapped to what Prometheus accepts.

use crate::kind::MetricType;

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
