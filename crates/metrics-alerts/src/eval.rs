//! Evaluating an expression against a live [`MetricsCollector`]: current
//! values from the aggregates, windows from the retained samples and,
//! where a [`SampleHistory`] is attached (a durable store), from the
//! history before the oldest sample the collector still holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use metrics_core::{AggregateValue, MetricSeries, MetricType, MetricsCollector, TagFilter, TagSet};
use time::OffsetDateTime;

use crate::expr::{Condition, Expr, MatchOp, Operand, Selector, ValueExpr};
use crate::history::SampleHistory;

/// The `by` tags' values of one group, in `by` order.
pub type GroupKey = Vec<(String, String)>;

/// What an expression yields at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// The groups whose condition holds, with their value (1 for `absent`).
    pub active: BTreeMap<GroupKey, f64>,
    /// Metrics the expression reads that neither the collector nor the
    /// history has.
    pub missing: Vec<String>,
    /// Failures to read the history (those windows used the collector's
    /// samples alone).
    pub errors: Vec<String>,
}

/// What an evaluation reads: the collector, perhaps a history, and what
/// it found missing or failed to read on the way.
struct Sources<'a> {
    collector: &'a MetricsCollector,
    history: Option<&'a mut dyn SampleHistory>,
    missing: Vec<String>,
    errors: Vec<String>,
}

/// The series a selector found.
struct Found {
    /// The collector's series, if it has one.
    live: Option<Arc<MetricSeries>>,
    /// The series' name and type.
    name: String,
    ty: MetricType,
}

impl Sources<'_> {
    /// The series `metric` means: the collector's, else (for windows) the
    /// history's.
    fn find(&mut self, metric: &str) -> Option<Found> {
        if let Some(s) = resolve(self.collector, metric) {
            return Some(Found {
                name: s.name().to_owned(),
                ty: s.metric_type(),
                live: Some(s),
            });
        }
        let history = self.history.as_deref_mut()?;
        for name in crate::names::candidates(metric) {
            match history.metric_type(&name) {
                Ok(Some(ty)) => return Some(Found { live: None, name, ty }),
                Ok(None) => {}
                Err(e) => {
                    self.errors.push(e.to_string());
                    return None;
                }
            }
        }
        None
    }
}

/// Finds the series a selector means (see [`crate::names`]).
pub(crate) fn resolve(collector: &MetricsCollector, metric: &str) -> Option<Arc<MetricSeries>> {
    crate::names::candidates(metric)
        .iter()
        .find_map(|n| collector.get_metric_series(n))
}

/// Read access to the tags of a live or a stored sample.
trait TagLookup {
    fn tag(&self, key: &str) -> Option<&str>;
}

impl TagLookup for TagSet {
    fn tag(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

impl TagLookup for BTreeMap<String, String> {
    fn tag(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

fn accepts(sel: &Selector, tags: &impl TagLookup) -> bool {
    sel.matchers.iter().all(|m| m.accepts(tags.tag(&m.tag)))
}

fn key(by: &[String], tags: &impl TagLookup) -> GroupKey {
    by.iter()
        .map(|t| (t.clone(), tags.tag(t).unwrap_or("").to_owned()))
        .collect()
}

fn eq_pairs(sel: &Selector) -> Vec<(String, String)> {
    sel.matchers
        .iter()
        .filter(|m| m.op == MatchOp::Eq && !m.value.is_empty())
        .map(|m| (m.tag.clone(), m.value.clone()))
        .collect()
}

/// The equality matchers, which the store can filter on itself.
fn eq_filter(sel: &Selector) -> TagFilter {
    eq_pairs(sel)
        .into_iter()
        .fold(TagFilter::new(), |f, (k, v)| f.with(k, v))
}

fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// Per group: the samples recorded in `(now - window, now]`. The
/// collector's from the oldest one it holds in the window; the history's
/// before that (all of the window when the collector holds none), so no
/// sample is counted twice.
///
/// A live sample may carry a timestamp up to one recent-clock period after
/// `now` and still have been recorded before it: the collector's clock
/// returns one time per period, and a series moves samples that tie past
/// its newest by a nanosecond each (`metrics_core::clock::recent`). Those
/// count as recorded at `now`.
fn window_samples(
    src: &mut Sources<'_>,
    found: &Found,
    sel: &Selector,
    by: &[String],
    now: OffsetDateTime,
    window: std::time::Duration,
) -> BTreeMap<GroupKey, Vec<f64>> {
    let since = now - window;
    let recorded_by_now = now + metrics_core::clock::RECENT_PERIOD;
    let mut out: BTreeMap<GroupKey, Vec<f64>> = BTreeMap::new();
    let mut oldest_live = nanos(now).saturating_add(1);
    if let Some(series) = &found.live {
        let (_, values) = series.newest_values(&eq_filter(sel), Some(since), usize::MAX);
        for v in values {
            if v.timestamp > since && v.timestamp <= recorded_by_now && accepts(sel, &v.tags) {
                oldest_live = oldest_live.min(nanos(v.timestamp));
                out.entry(key(by, &v.tags)).or_default().push(v.value);
            }
        }
    }
    if let Some(history) = src.history.as_deref_mut() {
        let (from, until) = (nanos(since).saturating_add(1), oldest_live.saturating_sub(1));
        if from <= until {
            match history.samples(&found.name, &eq_pairs(sel), from, until) {
                Ok(stored) => {
                    for v in stored.iter().filter(|v| accepts(sel, &v.tags)) {
                        out.entry(key(by, &v.tags)).or_default().push(v.value);
                    }
                }
                Err(e) => src.errors.push(format!("{e} (window of {})", found.name)),
            }
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

fn operand(src: &mut Sources<'_>, op: &Operand, by: &[String], now: OffsetDateTime) -> BTreeMap<GroupKey, f64> {
    let sel = op.selector();
    let found = match op {
        // A current value is the collector's: the history holds past samples only.
        Operand::Value(_) => resolve(src.collector, &sel.metric).map(|s| Found {
            name: s.name().to_owned(),
            ty: s.metric_type(),
            live: Some(s),
        }),
        _ => src.find(&sel.metric),
    };
    let Some(found) = found else {
        src.missing.push(sel.metric.clone());
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    match op {
        Operand::Value(_) => {
            let aggregates = found.live.as_ref().map(|s| s.aggregates()).unwrap_or_default();
            for a in aggregates.iter().filter(|a| accepts(sel, &a.tags)) {
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
            if let Some(series) = &found.live {
                for k in known_groups(series, sel, by) {
                    out.insert(k, 0.0);
                }
            }
            for (k, values) in window_samples(src, &found, sel, by, now, *w) {
                // Counter samples are increments; for other kinds, count events.
                let sum = if found.ty == MetricType::Counter {
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
            for (k, values) in window_samples(src, &found, sel, by, now, *w) {
                let slow = values.iter().filter(|v| **v > *threshold).count();
                out.insert(k, slow as f64 / values.len() as f64);
            }
        }
        Operand::Percentile(p, _, w) => {
            for (k, mut values) in window_samples(src, &found, sel, by, now, *w) {
                if let Some(v) = percentile(&mut values, *p) {
                    out.insert(k, v);
                }
            }
        }
    }
    out
}

/// Evaluates `expr` at `now` against the collector alone.
pub fn evaluate(collector: &MetricsCollector, expr: &Expr, now: OffsetDateTime) -> Evaluation {
    evaluate_with(collector, None, expr, now)
}

/// Evaluates `expr` at `now`; windows also read `history` before the
/// oldest sample the collector holds (see [`crate::history`]).
pub fn evaluate_with<'a>(
    collector: &'a MetricsCollector,
    history: Option<&'a mut dyn SampleHistory>,
    expr: &Expr,
    now: OffsetDateTime,
) -> Evaluation {
    let mut src = Sources {
        collector,
        history,
        missing: Vec::new(),
        errors: Vec::new(),
    };
    let active = condition(&mut src, &expr.condition, &expr.by, now);
    let Sources {
        mut missing,
        mut errors,
        ..
    } = src;
    missing.sort();
    missing.dedup();
    errors.dedup();
    Evaluation {
        active,
        missing,
        errors,
    }
}

fn condition(src: &mut Sources<'_>, cond: &Condition, by: &[String], now: OffsetDateTime) -> BTreeMap<GroupKey, f64> {
    let mut active = BTreeMap::new();
    match cond {
        Condition::Compare { value, op, threshold } => {
            let values = match value {
                ValueExpr::Single(a) => operand(src, a, by, now),
                ValueExpr::Ratio(a, b) => {
                    let num = operand(src, a, by, now);
                    let den = operand(src, b, by, now);
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
            let mut parts = all
                .iter()
                .map(|c| condition(src, c, by, now))
                .collect::<Vec<_>>()
                .into_iter();
            let first = parts.next().unwrap_or_default();
            let rest: Vec<_> = parts.collect();
            active = first
                .into_iter()
                .filter(|(k, _)| rest.iter().all(|r| r.contains_key(k)))
                .collect();
        }
        Condition::Absent { selector, window } => {
            let present = match window {
                None => resolve(src.collector, &selector.metric)
                    .is_some_and(|s| s.aggregates().iter().any(|a| accepts(selector, &a.tags))),
                Some(w) => src
                    .find(&selector.metric)
                    .is_some_and(|found| !window_samples(src, &found, selector, &[], now, *w).is_empty()),
            };
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
