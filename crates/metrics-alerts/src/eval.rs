//! Evaluating an expression against a live [`MetricsCollector`]: current
//! values from the aggregates, windows from the retained samples.

use std::collections::BTreeMap;
use std::sync::Arc;

use metrics_core::{AggregateValue, MetricSeries, MetricType, MetricsCollector, TagFilter, TagSet};
use time::OffsetDateTime;

use crate::expr::{Condition, Expr, MatchOp, Operand, Selector, ValueExpr};

/// The `by` tags' values of one group, in `by` order.
pub type GroupKey = Vec<(String, String)>;

/// What an expression yields at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// The groups whose condition holds, with their value (1 for `absent`).
    pub active: BTreeMap<GroupKey, f64>,
    /// Metrics the expression reads that the collector does not have.
    pub missing: Vec<String>,
}

/// Finds the series a selector means (see [`crate::names`]).
pub(crate) fn resolve(collector: &MetricsCollector, metric: &str) -> Option<Arc<MetricSeries>> {
    crate::names::candidates(metric)
        .iter()
        .find_map(|n| collector.get_metric_series(n))
}

fn accepts(sel: &Selector, tags: &TagSet) -> bool {
    sel.matchers.iter().all(|m| m.accepts(tags.get(&m.tag)))
}

fn key(by: &[String], tags: &TagSet) -> GroupKey {
    by.iter()
        .map(|t| (t.clone(), tags.get(t).unwrap_or("").to_owned()))
        .collect()
}

/// The equality matchers, which the store can filter on itself.
fn eq_filter(sel: &Selector) -> TagFilter {
    sel.matchers
        .iter()
        .filter(|m| m.op == MatchOp::Eq && !m.value.is_empty())
        .fold(TagFilter::new(), |f, m| f.with(m.tag.clone(), m.value.clone()))
}

/// Per group: the samples recorded in `(now - window, now]`.
fn window_samples(
    series: &MetricSeries,
    sel: &Selector,
    by: &[String],
    now: OffsetDateTime,
    window: std::time::Duration,
) -> BTreeMap<GroupKey, Vec<f64>> {
    let since = now - window;
    let (_, values) = series.newest_values(&eq_filter(sel), Some(since), usize::MAX);
    let mut out: BTreeMap<GroupKey, Vec<f64>> = BTreeMap::new();
    for v in values {
        if v.timestamp > since && v.timestamp <= now && accepts(sel, &v.tags) {
            out.entry(key(by, &v.tags)).or_default().push(v.value);
        }
    }
    out
}

/// Groups that exist (have an aggregate) and match, so a window with no
/// samples reads as zero rather than as nothing.
fn known_groups(series: &MetricSeries, sel: &Selector, by: &[String]) -> Vec<GroupKey> {
    series
        .aggregates()
        .iter()
        .filter(|a| accepts(sel, &a.tags))
        .map(|a| key(by, &a.tags))
        .collect()
}

/// The `p`-th percentile (0–100) of `values`, interpolating between ranks.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let (a, b) = (values[lo.min(values.len() - 1)], values[hi.min(values.len() - 1)]);
    Some(a + (b - a) * (rank - rank.floor()))
}

fn operand(
    collector: &MetricsCollector,
    op: &Operand,
    by: &[String],
    now: OffsetDateTime,
    missing: &mut Vec<String>,
) -> BTreeMap<GroupKey, f64> {
    let sel = op.selector();
    let Some(series) = resolve(collector, &sel.metric) else {
        missing.push(sel.metric.clone());
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    match op {
        Operand::Value(_) => {
            for a in series.aggregates().iter().filter(|a| accepts(sel, &a.tags)) {
                let k = key(by, &a.tags);
                match &a.value {
                    AggregateValue::Counter { total } => *out.entry(k).or_insert(0.0) += total,
                    AggregateValue::Histogram(h) => *out.entry(k).or_insert(0.0) += h.count as f64,
                    AggregateValue::Gauge { value } => {
                        let e = out.entry(k).or_insert(f64::NEG_INFINITY);
                        *e = f64::max(*e, *value);
                    }
                }
            }
        }
        Operand::Rate(_, w) | Operand::Increase(_, w) => {
            for k in known_groups(&series, sel, by) {
                out.insert(k, 0.0);
            }
            for (k, values) in window_samples(&series, sel, by, now, *w) {
                // Counter samples are increments; for other kinds, count events.
                let sum = if series.metric_type() == MetricType::Counter {
                    values.iter().sum()
                } else {
                    values.len() as f64
                };
                out.insert(k, sum);
            }
            if matches!(op, Operand::Rate(..)) {
                for v in out.values_mut() {
                    *v /= w.as_secs_f64();
                }
            }
        }
        Operand::SlowerThan(_, threshold, w) => {
            for (k, values) in window_samples(&series, sel, by, now, *w) {
                let slow = values.iter().filter(|v| **v > *threshold).count();
                out.insert(k, slow as f64 / values.len() as f64);
            }
        }
        Operand::Percentile(p, _, w) => {
            for (k, mut values) in window_samples(&series, sel, by, now, *w) {
                if let Some(v) = percentile(&mut values, *p) {
                    out.insert(k, v);
                }
            }
        }
    }
    out
}

/// Evaluates `expr` at `now`.
pub fn evaluate(collector: &MetricsCollector, expr: &Expr, now: OffsetDateTime) -> Evaluation {
    let mut missing = Vec::new();
    let active = condition(collector, &expr.condition, &expr.by, now, &mut missing);
    missing.sort();
    missing.dedup();
    Evaluation { active, missing }
}

fn condition(
    collector: &MetricsCollector,
    cond: &Condition,
    by: &[String],
    now: OffsetDateTime,
    missing: &mut Vec<String>,
) -> BTreeMap<GroupKey, f64> {
    let mut active = BTreeMap::new();
    match cond {
        Condition::Compare { value, op, threshold } => {
            let values = match value {
                ValueExpr::Single(a) => operand(collector, a, by, now, missing),
                ValueExpr::Ratio(a, b) => {
                    let num = operand(collector, a, by, now, missing);
                    let den = operand(collector, b, by, now, missing);
                    num.into_iter()
                        .filter_map(|(k, n)| den.get(&k).filter(|d| **d != 0.0).map(|d| (k, n / d)))
                        .collect()
                }
            };
            for (k, v) in values {
                if op.holds(v, *threshold) {
                    active.insert(k, v);
                }
            }
        }
        Condition::All(all) => {
            let mut parts = all.iter().map(|c| condition(collector, c, by, now, missing));
            let first = parts.next().unwrap_or_default();
            let rest: Vec<_> = parts.collect();
            active = first
                .into_iter()
                .filter(|(k, _)| rest.iter().all(|r| r.contains_key(k)))
                .collect();
        }
        Condition::Absent { selector, window } => {
            let present = resolve(collector, &selector.metric).is_some_and(|s| match window {
                None => s.aggregates().iter().any(|a| accepts(selector, &a.tags)),
                Some(w) => !window_samples(&s, selector, &[], now, *w).is_empty(),
            });
            if !present {
                // Like Prometheus' absent(): the equality matchers become labels.
                let k = selector
                    .matchers
                    .iter()
                    .filter(|m| m.op == MatchOp::Eq)
                    .map(|m| (m.tag.clone(), m.value.clone()))
                    .collect();
                active.insert(k, 1.0);
            }
        }
    }
    active
}
