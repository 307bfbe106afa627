//! Service level objectives declared on functions:
//! `#[record_execution_time(objective(success = 99.9, latency = "250ms", percentile = 99))]`.
//!
//! The attribute declares the objective the first time the function runs
//! (one `Once` check per call after that), before the function's timer is
//! resolved. A declaration is data only: metrics-alerts turns the declared
//! objectives into multi-window, multi-burn-rate alerts and their recording
//! rules (`RuleSet::with_function_objectives`), evaluated in-process or
//! exported as Prometheus rules.

use std::sync::{Mutex, Once, PoisonError};

use crate::collector::{DEFAULT_BUCKETS, get_metrics_collector};
use crate::{MetricOptions, MetricType};

/// The objective of one instrumented function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionObjective {
    /// The function's timer (`<module path>.<function>.execution_time`
    /// unless the attribute names it), tagged `outcome`.
    pub metric: &'static str,
    /// The function's name.
    pub function: &'static str,
    /// The module path it is defined in.
    pub module: &'static str,
    /// Percent of calls that must end `ok` (`outcome="ok"`), e.g. 99.9.
    pub success: Option<f64>,
    /// The latency bound in seconds, e.g. 0.25 ...
    pub latency_seconds: Option<f64>,
    /// ... that `percentile` percent of calls must meet (99 unless given).
    pub percentile: f64,
}

static DECLARED: Mutex<Vec<FunctionObjective>> = Mutex::new(Vec::new());

/// Declares `objective` (again: ignored when one for the same timer is
/// declared already). A latency bound that is not one of the default
/// bucket bounds is added to the timer's buckets, so that Prometheus'
/// `_bucket{le=...}` series for it exists, when the timer does not exist
/// yet in the process-wide collector.
pub fn declare_objective(objective: FunctionObjective) {
    let mut declared = DECLARED.lock().unwrap_or_else(PoisonError::into_inner);
    if declared.iter().any(|d| d.metric == objective.metric) {
        return;
    }
    if let Some(latency) = objective.latency_seconds
        && !DEFAULT_BUCKETS.iter().any(|b| (b - latency).abs() < 1e-12)
        && get_metrics_collector().get_metric_series(objective.metric).is_none()
    {
        let mut buckets = DEFAULT_BUCKETS.to_vec();
        buckets.push(latency);
        buckets.sort_by(f64::total_cmp);
        // An invalid bound cannot come from the attribute (it checks the
        // latency); a refused description leaves the default buckets.
        let _ = get_metrics_collector().describe_metric(
            objective.metric,
            MetricType::Timer,
            MetricOptions {
                buckets: Some(buckets),
                ..MetricOptions::default()
            },
        );
    }
    declared.push(objective);
}

/// [`declare_objective`] once per call site: what the attribute expands to.
#[inline]
pub fn declare_objective_once(once: &'static Once, objective: impl FnOnce() -> FunctionObjective) {
    once.call_once(|| declare_objective(objective()));
}

/// Every objective declared so far in this process, in declaration order.
pub fn declared_objectives() -> Vec<FunctionObjective> {
    DECLARED.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
