//! Prometheus alerting and recording rules from a [`RuleSet`], on the names
//! our exposition produces (`NAME_total` for counters, `NAME_bucket` and
//! `histogram_quantile` for percentiles, ...).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::duration::format_duration;
use crate::expr::{Condition, Expr, Operand, Selector, ValueExpr};
use crate::names::{family, le_text, promql_matchers, quote};
use crate::rules::{MetricKind, Rule, RuleSet};
use crate::slo::{BURN_RATE_WINDOWS, Slo, burn_labels, burn_summary, recording_windows};
use crate::template::format_value;

/// The name of the group holding the `[[rule]]` alerts.
pub const ALERTS_GROUP: &str = "bykilt-alerts";

/// What kind a metric is, for naming it: the caller's knowledge (a live
/// collector's series types) first, then the file's `[metric_types]`, then
/// what the function implies (`rate` → counter, `pNN` → histogram).
#[derive(Debug, Default, Clone)]
pub struct KindHints(pub BTreeMap<String, MetricKind>);

impl KindHints {
    fn kind(&self, rules: &RuleSet, metric: &str, implied: MetricKind) -> MetricKind {
        for name in crate::names::candidates(metric) {
            if let Some(k) = self.0.get(&name).or_else(|| rules.metric_types.get(&name)) {
                return *k;
            }
        }
        implied
    }
}

struct Promql<'a> {
    rules: &'a RuleSet,
    hints: &'a KindHints,
}

impl Promql<'_> {
    fn by(by: &[String], extra: Option<&str>) -> String {
        let mut tags: Vec<String> = by
            .iter()
            .map(|t| metrics_core::export::prometheus::sanitize_label_name(t, extra.is_some()))
            .collect();
        tags.extend(extra.map(str::to_owned));
        if tags.is_empty() {
            String::new()
        } else {
            format!(" by ({})", tags.join(", "))
        }
    }

    fn series(&self, sel: &Selector, implied: MetricKind) -> (String, MetricKind) {
        let kind = self.hints.kind(self.rules, &sel.metric, implied);
        let hist = matches!(kind, MetricKind::Histogram | MetricKind::Timer);
        let written = metrics_core::export::prometheus::sanitize_metric_name(&sel.metric);
        let name = if ["_count", "_sum", "_bucket"].iter().any(|s| written.ends_with(s)) {
            // Already a sample name of a histogram family: as written.
            written
        } else if hist && implied != MetricKind::Histogram {
            format!("{}_count", family(&sel.metric, kind))
        } else {
            family(&sel.metric, kind)
        };
        (format!("{name}{}", promql_matchers(sel, hist, None)), kind)
    }

    fn operand(&self, op: &Operand, by: &[String]) -> String {
        match op {
            Operand::Value(sel) => {
                let (s, kind) = self.series(sel, MetricKind::Gauge);
                let agg = if kind == MetricKind::Gauge { "max" } else { "sum" };
                format!("{agg}{} ({s})", Self::by(by, None))
            }
            Operand::Rate(sel, w) | Operand::Increase(sel, w) => {
                let f = if matches!(op, Operand::Rate(..)) {
                    "rate"
                } else {
                    "increase"
                };
                let (s, _) = self.series(sel, MetricKind::Counter);
                format!("sum{} ({f}({s}[{}]))", Self::by(by, None), format_duration(*w))
            }
            Operand::SlowerThan(sel, threshold, w) => {
                let kind = self.hints.kind(self.rules, &sel.metric, MetricKind::Histogram);
                let fam = family(&sel.metric, kind);
                let le = le_text(*threshold);
                format!(
                    "1 - (sum{g} (rate({fam}_bucket{}[{w}])) / sum{g} (rate({fam}_count{}[{w}])))",
                    promql_matchers(sel, true, Some(("le", &le))),
                    promql_matchers(sel, true, None),
                    g = Self::by(by, None),
                    w = format_duration(*w)
                )
            }
            Operand::Percentile(p, sel, w) => {
                let kind = self.hints.kind(self.rules, &sel.metric, MetricKind::Histogram);
                let name = format!("{}_bucket", family(&sel.metric, kind));
                format!(
                    "histogram_quantile({}, sum{} (rate({name}{}[{}])))",
                    format_value(p / 100.0),
                    Self::by(by, Some("le")),
                    promql_matchers(sel, true, None),
                    format_duration(*w)
                )
            }
        }
    }

    fn expr(&self, e: &Expr) -> String {
        self.condition(&e.condition, &e.by)
    }

    fn condition(&self, c: &Condition, by: &[String]) -> String {
        match c {
            Condition::Compare { value, op, threshold } => {
                let v = match value {
                    ValueExpr::Single(a) => self.operand(a, by),
                    ValueExpr::Ratio(a, b) => format!("({}) / ({})", self.operand(a, by), self.operand(b, by)),
                };
                format!("{v} {} {}", op.as_str(), format_value(*threshold))
            }
            Condition::All(all) => {
                let parts: Vec<String> = all.iter().map(|c| format!("({})", self.condition(c, by))).collect();
                parts.join(" and ")
            }
            Condition::Absent { selector, window } => {
                let (s, _) = self.series(selector, MetricKind::Gauge);
                match window {
                    None => format!("absent({s})"),
                    Some(w) => format!("absent_over_time({s}[{}])", format_duration(*w)),
                }
            }
        }
    }
}

/// The PromQL equivalent of one rule's expression.
pub fn rule_promql(rules: &RuleSet, hints: &KindHints, rule: &Rule) -> String {
    Promql { rules, hints }.expr(&rule.expr)
}

fn push_map(out: &mut String, indent: &str, key: &str, map: &BTreeMap<String, String>) {
    if map.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}{key}:");
    for (k, v) in map {
        let _ = writeln!(out, "{indent}  {k}: {}", quote(v));
    }
}

/// The recording rule name of an objective's error ratio over `window`.
pub fn error_ratio_record(window: std::time::Duration) -> String {
    format!("slo:sli_error:ratio_rate{}", format_duration(window))
}

fn slo_group(out: &mut String, rules: &RuleSet, hints: &KindHints, slo: &Slo) {
    let _ = writeln!(out, "  - name: {}", quote(&format!("bykilt-slo-{}", slo.name)));
    let _ = writeln!(out, "    rules:");
    let p = Promql { rules, hints };
    let mut objectives = Vec::new();
    if let Some(s) = &slo.success {
        let (errors, _) = p.series(&s.errors, MetricKind::Counter);
        let (total, _) = p.series(&s.total, MetricKind::Counter);
        objectives.push((
            "success",
            s.objective,
            Box::new(move |w: &str| format!("sum(rate({errors}[{w}])) / sum(rate({total}[{w}]))"))
                as Box<dyn Fn(&str) -> String>,
        ));
    }
    if let Some(l) = &slo.latency {
        let kind = hints.kind(rules, &l.histogram.metric, MetricKind::Histogram);
        let fam = family(&l.histogram.metric, kind);
        let le = le_text(l.threshold.as_secs_f64());
        let fast = format!("{fam}_bucket{}", promql_matchers(&l.histogram, true, Some(("le", &le))));
        let all = format!("{fam}_count{}", promql_matchers(&l.histogram, true, None));
        objectives.push((
            "latency",
            l.objective,
            Box::new(move |w: &str| format!("1 - (sum(rate({fast}[{w}])) / sum(rate({all}[{w}])))")),
        ));
    }
    for (sli, objective, ratio) in &objectives {
        let labels = BTreeMap::from([
            ("slo".to_owned(), slo.name.clone()),
            ("sli".to_owned(), (*sli).to_owned()),
        ]);
        for w in recording_windows() {
            let _ = writeln!(out, "      - record: {}", error_ratio_record(w));
            let _ = writeln!(out, "        expr: {}", quote(&ratio(&format_duration(w))));
            push_map(out, "        ", "labels", &labels);
        }
        let budget = format!("(100 - {}) / 100", format_value(*objective));
        let sel = format!("{{slo={},sli={}}}", quote(&slo.name), quote(sli));
        for b in BURN_RATE_WINDOWS {
            let _ = writeln!(
                out,
                "      - alert: {}",
                quote(&format!("{}_{sli}_budget_burn", slo.name))
            );
            let factor = format_value(b.factor);
            let expr = format!(
                "{long_ratio}{sel} > ({factor} * {budget}) and {short_ratio}{sel} > ({factor} * {budget})",
                long_ratio = error_ratio_record(b.long),
                short_ratio = error_ratio_record(b.short),
            );
            let _ = writeln!(out, "        expr: {}", quote(&expr));
            push_map(out, "        ", "labels", &burn_labels(slo, sli, &b));
            let summary = burn_summary(slo, sli, *objective, &b);
            push_map(
                out,
                "        ",
                "annotations",
                &BTreeMap::from([("summary".to_owned(), summary)]),
            );
        }
    }
}

/// The rules file as a Prometheus rules file (YAML): one group with the
/// alerts (evaluated every `eval_interval`), one group per SLO with its
/// recording rules and burn-rate alerts.
///
/// ```
/// use metrics_alerts::{RuleSet, export::{export_rules, KindHints}};
/// let rules = RuleSet::parse("a.toml", "[[rule]]\nname = \"Errors\"\nexpr = 'rate(job_errors_total[5m]) > 0.1 by (batch_id)'\n")?;
/// let yaml = export_rules(&rules, &KindHints::default());
/// assert!(yaml.contains(r#"expr: "sum by (batch_id) (rate(job_errors_total[5m])) > 0.1""#));
/// # Ok::<(), metrics_alerts::RulesError>(())
/// ```
pub fn export_rules(rules: &RuleSet, hints: &KindHints) -> String {
    let mut out = String::from("# Exported by `bykilt alerts export-rules` from ");
    out.push_str(&rules.file.replace('\n', " "));
    out.push_str("\ngroups:\n");
    if !rules.rules.is_empty() {
        let _ = writeln!(out, "  - name: {ALERTS_GROUP}");
        let _ = writeln!(out, "    interval: {}", format_duration(rules.eval_interval));
        let _ = writeln!(out, "    rules:");
        for r in &rules.rules {
            let _ = writeln!(out, "      - alert: {}", r.name);
            let _ = writeln!(out, "        expr: {}", quote(&rule_promql(rules, hints, r)));
            if !r.for_duration.is_zero() {
                let _ = writeln!(out, "        for: {}", format_duration(r.for_duration));
            }
            push_map(&mut out, "        ", "labels", &r.labels);
            push_map(&mut out, "        ", "annotations", &r.annotations);
        }
    }
    for slo in &rules.slos {
        slo_group(&mut out, rules, hints, slo);
    }
    if rules.rules.is_empty() && rules.slos.is_empty() {
        out.push_str("  []\n");
    }
    out
}
