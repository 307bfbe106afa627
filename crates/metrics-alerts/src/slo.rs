//! Service level objectives: the error-budget burn-rate alerts of the SRE
//! workbook (multi-window, multi-burn-rate) and the recording rules they read.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::duration::format_duration;
use crate::expr::{CmpOp, Condition, Expr, Operand, Selector, ValueExpr};
use crate::rules::Rule;
use crate::template::format_value;

/// `success` percent of the events counted by `total` must not be counted
/// by `errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct SuccessObjective {
    /// Target percentage of good events (99.9).
    pub objective: f64,
    /// Counter of bad events.
    pub errors: Selector,
    /// Counter of all events.
    pub total: Selector,
}

/// `percentile` percent of the events of `histogram` must take at most `threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyObjective {
    /// Target percentage of fast events (99).
    pub objective: f64,
    /// The latency bound; it must be one of the histogram's bucket bounds.
    pub threshold: Duration,
    /// The histogram (or timer) of event durations, in seconds.
    pub histogram: Selector,
}

/// One `[[slo]]` of a rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The objective's name (the `slo` label).
    pub name: String,
    /// The success objective, if any.
    pub success: Option<SuccessObjective>,
    /// The latency objective, if any.
    pub latency: Option<LatencyObjective>,
    /// Labels added to its alerts.
    pub labels: BTreeMap<String, String>,
    /// The line of its `name` in the file.
    pub line: usize,
}

impl Slo {
    /// Every selector the objective reads.
    pub fn selectors(&self) -> Vec<&Selector> {
        let mut out = Vec::new();
        if let Some(s) = &self.success {
            out.extend([&s.errors, &s.total]);
        }
        if let Some(l) = &self.latency {
            out.push(&l.histogram);
        }
        out
    }
}

/// One burn-rate alert: fires when the budget burns `factor` times faster
/// than sustainable over both windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRateWindow {
    /// Burn-rate factor.
    pub factor: f64,
    /// The long window.
    pub long: Duration,
    /// The short window, a twelfth of the long one, so the alert resets soon
    /// after the burning stops.
    pub short: Duration,
    /// `page` or `ticket`.
    pub severity: &'static str,
}

const MIN: u64 = 60;

/// The SRE workbook's windows: 14.4x over 1 h and 5 m (2 % of a 30-day
/// budget in an hour), 6x over 6 h and 30 m (5 % in 6 hours), 1x over
/// 3 d and 6 h (10 % in 3 days).
pub const BURN_RATE_WINDOWS: [BurnRateWindow; 3] = [
    BurnRateWindow {
        factor: 14.4,
        long: Duration::from_secs(60 * MIN),
        short: Duration::from_secs(5 * MIN),
        severity: "page",
    },
    BurnRateWindow {
        factor: 6.0,
        long: Duration::from_secs(360 * MIN),
        short: Duration::from_secs(30 * MIN),
        severity: "page",
    },
    BurnRateWindow {
        factor: 1.0,
        long: Duration::from_secs(3 * 1440 * MIN),
        short: Duration::from_secs(360 * MIN),
        severity: "ticket",
    },
];

/// Every window a recording rule is needed for, shortest first.
pub fn recording_windows() -> Vec<Duration> {
    let mut w: Vec<Duration> = BURN_RATE_WINDOWS.iter().flat_map(|b| [b.long, b.short]).collect();
    w.sort();
    w.dedup();
    w
}

/// The labels of one burn-rate alert (besides `alertname`), the same in
/// Prometheus and in-process.
pub(crate) fn burn_labels(slo: &Slo, sli: &str, b: &BurnRateWindow) -> BTreeMap<String, String> {
    let mut labels = slo.labels.clone();
    labels.insert("slo".to_owned(), slo.name.clone());
    labels.insert("sli".to_owned(), sli.to_owned());
    labels.insert("severity".to_owned(), b.severity.to_owned());
    labels.insert("burn_rate".to_owned(), format_value(b.factor));
    labels.insert("long_window".to_owned(), format_duration(b.long));
    labels.insert("short_window".to_owned(), format_duration(b.short));
    labels
}

/// The `summary` annotation of one burn-rate alert.
pub(crate) fn burn_summary(slo: &Slo, sli: &str, objective: f64, b: &BurnRateWindow) -> String {
    format!(
        "SLO {} ({sli} {}%): error budget burning {}x over {} and {}",
        slo.name,
        format_value(objective),
        format_value(b.factor),
        format_duration(b.long),
        format_duration(b.short)
    )
}

/// The error ratio of an objective over `window`, as an in-process value.
fn error_ratio(slo: &Slo, sli: &str, window: Duration) -> Option<ValueExpr> {
    match sli {
        "success" => slo.success.as_ref().map(|s| {
            ValueExpr::Ratio(
                Operand::Increase(s.errors.clone(), window),
                Operand::Increase(s.total.clone(), window),
            )
        }),
        _ => slo.latency.as_ref().map(|l| {
            ValueExpr::Single(Operand::SlowerThan(
                l.histogram.clone(),
                l.threshold.as_secs_f64(),
                window,
            ))
        }),
    }
}

/// The burn-rate alerts of an objective as rules the in-process evaluator
/// runs: same names, labels and annotations as the exported ones.
pub fn burn_rate_rules(slo: &Slo) -> Vec<Rule> {
    let mut out = Vec::new();
    let objectives = [
        ("success", slo.success.as_ref().map(|s| s.objective)),
        ("latency", slo.latency.as_ref().map(|l| l.objective)),
    ];
    for (sli, objective) in objectives {
        let Some(objective) = objective else { continue };
        let budget = (100.0 - objective) / 100.0;
        for b in BURN_RATE_WINDOWS {
            let compare = |window| {
                error_ratio(slo, sli, window).map(|value| Condition::Compare {
                    value,
                    op: CmpOp::Gt,
                    threshold: b.factor * budget,
                })
            };
            let (Some(long), Some(short)) = (compare(b.long), compare(b.short)) else {
                continue;
            };
            out.push(Rule {
                name: format!("{}_{sli}_budget_burn", slo.name),
                expr: Expr {
                    condition: Condition::All(vec![long, short]),
                    by: Vec::new(),
                },
                source: format!("slo {} ({sli}), {}x burn", slo.name, format_value(b.factor)),
                for_duration: Duration::ZERO,
                labels: burn_labels(slo, sli, &b),
                annotations: BTreeMap::from([("summary".to_owned(), burn_summary(slo, sli, objective, &b))]),
                line: slo.line,
            });
        }
    }
    out
}
