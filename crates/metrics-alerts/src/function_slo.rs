//! SLOs declared on functions with
//! `#[record_execution_time(objective(success = 99.9, latency = "250ms", percentile = 99))]`,
//! as [`Slo`]s of a [`RuleSet`]: the same multi-window, multi-burn-rate
//! alerts and recording rules as an `[[slo]]` of the rules file.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_core::instrument::FunctionObjective;

use crate::expr::{MatchOp, Matcher, Selector};
use crate::rules::{MetricKind, RuleSet};
use crate::slo::{LatencyObjective, Slo, SuccessObjective};

/// The name of a function's SLO (the `slo` label, and the stem of its
/// alert names): its module path and name with every character that is not
/// a letter, a digit or `_` made `_` (`shop::orders` + `place` →
/// `shop_orders_place`).
pub fn function_slo_name(objective: &FunctionObjective) -> String {
    let joined = format!("{}_{}", objective.module, objective.function);
    let mut name = String::with_capacity(joined.len());
    for c in joined.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        // `::` becomes one `_`.
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The [`Slo`] of a function's objective: success is the share of calls
/// of its timer that ended `outcome="ok"`; latency the share of calls at
/// most `latency_seconds` long. Its alerts carry `function` and `module`
/// labels.
pub fn function_slo(objective: &FunctionObjective) -> Slo {
    let timer = |matchers| Selector {
        metric: objective.metric.to_owned(),
        matchers,
    };
    Slo {
        name: function_slo_name(objective),
        success: objective.success.map(|target| SuccessObjective {
            objective: target,
            errors: timer(vec![Matcher {
                tag: "outcome".to_owned(),
                op: MatchOp::Ne,
                value: "ok".to_owned(),
            }]),
            total: timer(Vec::new()),
        }),
        latency: objective.latency_seconds.map(|seconds| LatencyObjective {
            objective: objective.percentile,
            threshold: Duration::from_secs_f64(seconds),
            histogram: timer(Vec::new()),
        }),
        labels: BTreeMap::from([
            ("function".to_owned(), objective.function.to_owned()),
            ("module".to_owned(), objective.module.to_owned()),
        ]),
        line: 0,
    }
}

impl RuleSet {
    /// Adds the SLOs of functions' declared objectives
    /// ([`metrics_core::instrument::declared_objectives`]), after the
    /// file's own, and marks their timers as timers for
    /// [`export_rules`](crate::export::export_rules). An objective whose
    /// SLO name the rule set already has (from the file, or given twice) is
    /// left out: the file's declaration wins.
    ///
    /// ```
    /// use metrics_alerts::RuleSet;
    ///
    /// #[metrics_core::record_execution_time(objective(success = 99.9, latency = "250ms", percentile = 99))]
    /// fn place_order(id: u32) -> Result<u32, String> {
    ///     Ok(id)
    /// }
    ///
    /// place_order(7)?; // the first call declares the objective
    /// let rules = RuleSet::parse("alerts.toml", "")?
    ///     .with_function_objectives(&metrics_core::instrument::declared_objectives());
    /// let slo = rules.slos.iter().find(|s| s.name.ends_with("place_order")).unwrap();
    /// assert_eq!(slo.success.as_ref().unwrap().objective, 99.9);
    /// assert_eq!(slo.latency.as_ref().unwrap().threshold.as_millis(), 250);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "with_function_objectives returns the extended rule set"]
    pub fn with_function_objectives(mut self, objectives: &[FunctionObjective]) -> Self {
        for objective in objectives {
            let slo = function_slo(objective);
            if self.slos.iter().any(|s| s.name == slo.name) {
                continue;
            }
            self.metric_types
                .entry(objective.metric.to_owned())
                .or_insert(MetricKind::Timer);
            self.slos.push(slo);
        }
        self
    }
}
