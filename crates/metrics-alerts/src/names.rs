//! How a metric name in a rule maps to our series and to exposition names.

use metrics_core::MetricType;
use metrics_core::export::prometheus::{family_names, sanitize_label_name, sanitize_metric_name};

use crate::expr::{MatchOp, Selector};
use crate::rules::MetricKind;

/// The series names a rule's metric may mean, most literal first: the name
/// itself, then without a suffix the exposition adds (`job_errors_total`
/// finds our counter `job_errors`, `job_duration_seconds_count` our
/// histogram `job_duration_seconds`, `request_seconds` our timer `request`).
pub(crate) fn candidates(metric: &str) -> Vec<String> {
    let mut out = vec![metric.to_owned()];
    for suffix in ["_total", "_seconds", "_count", "_sum", "_bucket"] {
        if let Some(stem) = metric.strip_suffix(suffix)
            && !stem.is_empty()
        {
            out.push(stem.to_owned());
            if let Some(timer) = stem.strip_suffix("_seconds").filter(|t| !t.is_empty()) {
                out.push(timer.to_owned());
            }
        }
    }
    out
}

/// The metric kind of a series type.
pub fn kind_of(ty: MetricType) -> MetricKind {
    match ty {
        MetricType::Counter => MetricKind::Counter,
        MetricType::Gauge => MetricKind::Gauge,
        MetricType::Histogram => MetricKind::Histogram,
        MetricType::Timer => MetricKind::Timer,
    }
}

fn metric_type(kind: MetricKind) -> MetricType {
    match kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Histogram => MetricType::Histogram,
        MetricKind::Timer => MetricType::Timer,
    }
}

/// The exposition family name of `metric` of `kind` (a name already ending
/// in a sample suffix such as `_count` is kept as written).
pub(crate) fn family(metric: &str, kind: MetricKind) -> String {
    let base = sanitize_metric_name(metric);
    if ["_total", "_count", "_sum", "_bucket"]
        .iter()
        .any(|s| base.ends_with(s))
        && kind == MetricKind::Counter
    {
        return base;
    }
    family_names(metric, metric_type(kind)).0
}

/// `{tag="v",...}` for PromQL, or nothing when there are no matchers
/// (`extra` is appended, e.g. an `le` matcher).
pub(crate) fn promql_matchers(sel: &Selector, histogram: bool, extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = sel
        .matchers
        .iter()
        .map(|m| {
            let op = match m.op {
                MatchOp::Eq => "=",
                MatchOp::Ne => "!=",
            };
            format!("{}{op}{}", sanitize_label_name(&m.tag, histogram), quote(&m.value))
        })
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}={}", quote(v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A double-quoted string, escaped for PromQL and YAML alike.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A float as our exposition writes bucket bounds (`0.25`, `1.0`).
pub(crate) fn le_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
