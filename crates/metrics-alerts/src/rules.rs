//! The rules file (TOML): settings, `[[rule]]` alerts, `[[slo]]`
//! objectives and `[metric_types]` hints. `docs/alerting.md` documents it.
//!
//! ```
//! use metrics_alerts::RuleSet;
//! let rules = RuleSet::parse("alerts.toml", r#"
//! eval_interval = "10s"
//!
//! [[rule]]
//! name = "JobErrors"
//! expr = 'rate(job_errors_total[5m]) > 0.1 by (batch_id)'
//! for = "1m"
//! labels = { severity = "page" }
//! annotations = { summary = "{{ $value }} errors/s in batch {{ $labels.batch_id }}" }
//! "#)?;
//! assert_eq!(rules.rules[0].name, "JobErrors");
//! assert_eq!(rules.rules[0].expr.by, ["batch_id"]);
//!
//! let bad = RuleSet::parse("alerts.toml", "[[rule]]\nname = \"X\"\nexpr = 'rate(x[5m]) >> 1'\n").unwrap_err();
//! assert_eq!(bad.to_string(), "alerts.toml:3:22: error: at `>`: expected a threshold number");
//! # Ok::<(), metrics_alerts::RulesError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Positions, RulesError, Severity};
use crate::duration::parse_duration;
use crate::expr::{Expr, Selector, parse_expr};
use crate::slo::{LatencyObjective, Slo, SuccessObjective};
use crate::template;

/// How often rules are evaluated when the file does not say.
pub const DEFAULT_EVAL_INTERVAL: Duration = Duration::from_secs(15);

/// A metric's kind, for `export-rules` when no collector says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Exposed as `NAME_total`.
    Counter,
    /// Exposed as `NAME`.
    Gauge,
    /// Exposed as `NAME_bucket`, `NAME_sum`, `NAME_count`.
    Histogram,
    /// A histogram in seconds, exposed with a `_seconds` suffix.
    Timer,
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The alert name (`alertname` label).
    pub name: String,
    /// The parsed expression.
    pub expr: Expr,
    /// The expression as written.
    pub source: String,
    /// How long the condition must hold before the alert fires (zero: at once).
    pub for_duration: Duration,
    /// Labels added to every alert of the rule.
    pub labels: BTreeMap<String, String>,
    /// Annotation templates (`{{ $value }}`, `{{ $labels.TAG }}`).
    pub annotations: BTreeMap<String, String>,
    /// The line of the rule's `expr` in the file.
    pub line: usize,
}

/// A loaded, checked rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// The file as given.
    pub file: String,
    /// How often the evaluator runs.
    pub eval_interval: Duration,
    /// Base URL of the dashboard, for `generatorURL`
    /// (`{external_url}/#/series/{metric}`, the dashboard's series page).
    pub external_url: Option<String>,
    /// The alerting rules, in file order.
    pub rules: Vec<Rule>,
    /// The service level objectives, in file order.
    pub slos: Vec<Slo>,
    /// Declared metric kinds, by metric name as written in expressions.
    pub metric_types: BTreeMap<String, MetricKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    eval_interval: Option<Spanned<String>>,
    external_url: Option<String>,
    #[serde(default)]
    metric_types: BTreeMap<String, MetricKind>,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    slo: Vec<RawSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    expr: Spanned<String>,
    #[serde(rename = "for")]
    for_duration: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    name: Spanned<String>,
    success: Option<Spanned<f64>>,
    errors: Option<Spanned<String>>,
    total: Option<Spanned<String>>,
    latency: Option<Spanned<String>>,
    percentile: Option<Spanned<f64>>,
    histogram: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, String>,
}

/// Whether `name` is a Prometheus label name (and so a valid alert name).
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Offset of a string value's first character (past its opening quotes).
fn content_start(text: &str, span: &std::ops::Range<usize>) -> usize {
    let raw = text.get(span.clone()).unwrap_or("");
    if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        span.start + 3 + usize::from(raw[3..].starts_with('\n'))
    } else {
        span.start + 1
    }
}

impl RuleSet {
    /// Reads and checks the rules file at `path`.
    ///
    /// # Errors
    /// [`RulesError`] with every problem found (an unreadable file is one).
    pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            RulesError(vec![Diagnostic {
                severity: Severity::Error,
                file: file.clone(),
                line: 0,
                column: 0,
                token: file.clone(),
                message: format!("cannot read the rules file: {e}"),
            }])
        })?;
        RuleSet::parse(&file, &text)
    }

    /// Parses and checks rules file text; `file` names it in errors.
    ///
    /// # Errors
    /// [`RulesError`] with every problem found.
    pub fn parse(file: &str, text: &str) -> Result<RuleSet, RulesError> {
        let pos = Positions { file, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let token = e
                .span()
                .and_then(|s| text.get(s))
                .map_or_else(String::new, |t| t.lines().next().unwrap_or("").to_owned());
            RulesError(vec![pos.error(offset, &token, e.message().to_owned())])
        })?;
        let mut errors = Vec::new();
        let eval_interval = match &raw.eval_interval {
            None => DEFAULT_EVAL_INTERVAL,
            Some(s) => match parse_duration(s.get_ref()).filter(|d| !d.is_zero()) {
                Some(d) => d,
                None => {
                    errors.push(pos.error(s.span().start, s.get_ref(), "not a duration (like `15s` or `1m`)"));
                    DEFAULT_EVAL_INTERVAL
                }
            },
        };
        let mut names = BTreeSet::new();
        let mut rules = Vec::new();
        for r in raw.rule {
            if let Some(rule) = check_rule(&pos, r, &mut names, &mut errors) {
                rules.push(rule);
            }
        }
        let mut slos = Vec::new();
        for s in raw.slo {
            if let Some(slo) = check_slo(&pos, s, &mut names, &mut errors) {
                slos.push(slo);
            }
        }
        if !errors.is_empty() {
            return Err(RulesError(errors));
        }
        Ok(RuleSet {
            file: file.to_owned(),
            eval_interval,
            external_url: raw.external_url.map(|u| u.trim_end_matches('/').to_owned()),
            rules,
            slos,
            metric_types: raw.metric_types,
        })
    }

    /// Warnings for every rule or objective that reads a metric none of
    /// `known` (the names runs produced) is: such a rule would stay silent.
    pub fn unknown_metrics<S: AsRef<str>>(&self, known: &[S]) -> Vec<Diagnostic> {
        let known: BTreeSet<&str> = known.iter().map(AsRef::as_ref).collect();
        let mut out = Vec::new();
        let mut warn = |metric: &str, line: usize, what: &str| {
            if !crate::names::candidates(metric)
                .iter()
                .any(|c| known.contains(c.as_str()))
            {
                out.push(Diagnostic {
                    severity: Severity::Warning,
                    file: self.file.clone(),
                    line,
                    column: 1,
                    token: metric.to_owned(),
                    message: format!("{what} reads metric `{metric}`, which no run produced: it cannot fire"),
                });
            }
        };
        for r in &self.rules {
            for s in r.expr.selectors() {
                warn(&s.metric, r.line, &format!("rule {}", r.name));
            }
        }
        for s in &self.slos {
            for sel in s.selectors() {
                warn(&sel.metric, s.line, &format!("slo {}", s.name));
            }
        }
        out
    }
}

fn check_labels(
    pos: &Positions<'_>,
    labels: BTreeMap<Spanned<String>, String>,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in labels {
        if !is_label_name(k.get_ref()) || k.get_ref().starts_with("__") {
            errors.push(pos.error(
                k.span().start,
                k.get_ref(),
                "not a label name (letters, digits and `_`, not starting with a digit or `__`)",
            ));
        }
        out.insert(k.into_inner(), v);
    }
    out
}

fn check_rule(
    pos: &Positions<'_>,
    r: RawRule,
    names: &mut BTreeSet<String>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let before = errors.len();
    let name = r.name.get_ref().clone();
    if !is_label_name(&name) {
        errors.push(pos.error(
            r.name.span().start,
            &name,
            "not a valid alert name (letters, digits and `_`, not starting with a digit)",
        ));
    } else if !names.insert(name.clone()) {
        errors.push(pos.error(r.name.span().start, &name, "a rule or slo of this name already exists"));
    }
    let source = r.expr.get_ref().clone();
    let start = content_start(pos.text, &r.expr.span());
    let expr = match parse_expr(&source) {
        Ok(e) => Some(e),
        Err(e) => {
            errors.push(pos.error(start + e.at, &e.token, e.message));
            None
        }
    };
    let for_duration = match &r.for_duration {
        None => Duration::ZERO,
        Some(s) => parse_duration(s.get_ref()).unwrap_or_else(|| {
            errors.push(pos.error(s.span().start, s.get_ref(), "not a duration (like `30s`, `5m`, `1h`)"));
            Duration::ZERO
        }),
    };
    let labels = check_labels(pos, r.labels, errors);
    let mut annotations = BTreeMap::new();
    for (k, v) in r.annotations {
        if let Err(e) = template::check(v.get_ref()) {
            errors.push(pos.error(
                content_start(pos.text, &v.span()) + e.at,
                &e.token,
                "unknown placeholder (known: `{{ $value }}`, `{{ $labels.TAG }}`)",
            ));
        }
        annotations.insert(k, v.into_inner());
    }
    let line = pos.line_col(start).0;
    (errors.len() == before).then_some(())?;
    Some(Rule {
        name,
        expr: expr?,
        source,
        for_duration,
        labels,
        annotations,
        line,
    })
}

fn selector_field(pos: &Positions<'_>, field: &Spanned<String>, errors: &mut Vec<Diagnostic>) -> Option<Selector> {
    let start = content_start(pos.text, &field.span());
    // A selector is an expression's operand: parse it as `SEL > 0`.
    match parse_expr(&format!("{} > 0", field.get_ref())) {
        Ok(Expr {
            condition:
                crate::expr::Condition::Compare {
                    value: crate::expr::ValueExpr::Single(crate::expr::Operand::Value(s)),
                    ..
                },
            ..
        }) => Some(s),
        Ok(_) => {
            errors.push(pos.error(
                start,
                field.get_ref(),
                "expected a metric selector like `jobs_total{status=\"failed\"}`",
            ));
            None
        }
        Err(e) => {
            errors.push(pos.error(start + e.at.min(field.get_ref().len()), &e.token, e.message));
            None
        }
    }
}

fn percent(pos: &Positions<'_>, v: &Spanned<f64>, errors: &mut Vec<Diagnostic>) -> f64 {
    let p = *v.get_ref();
    if !(p > 0.0 && p < 100.0) {
        errors.push(pos.error(
            v.span().start,
            &p.to_string(),
            "a percentage between 0 and 100 (exclusive), like 99.9",
        ));
    }
    p
}

fn check_slo(
    pos: &Positions<'_>,
    s: RawSlo,
    names: &mut BTreeSet<String>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Slo> {
    let before = errors.len();
    let name = s.name.get_ref().clone();
    let start = s.name.span().start;
    if !is_label_name(&name) {
        errors.push(pos.error(start, &name, "not a valid slo name (letters, digits and `_`)"));
    } else if !names.insert(name.clone()) {
        errors.push(pos.error(start, &name, "a rule or slo of this name already exists"));
    }
    let success = match (&s.success, &s.errors, &s.total) {
        (None, None, None) => None,
        (Some(p), Some(e), Some(t)) => {
            let objective = percent(pos, p, errors);
            let errors_sel = selector_field(pos, e, errors);
            let total = selector_field(pos, t, errors);
            Some(SuccessObjective {
                objective,
                errors: errors_sel?,
                total: total?,
            })
        }
        _ => {
            errors.push(pos.error(
                start,
                &name,
                "a success objective needs `success`, `errors` and `total`",
            ));
            None
        }
    };
    let latency = match (&s.latency, &s.percentile, &s.histogram) {
        (None, None, None) => None,
        (Some(l), Some(p), Some(h)) => {
            let objective = percent(pos, p, errors);
            let threshold = parse_duration(l.get_ref()).filter(|d| !d.is_zero());
            if threshold.is_none() {
                errors.push(pos.error(l.span().start, l.get_ref(), "not a duration (like `250ms`)"));
            }
            let histogram = selector_field(pos, h, errors);
            Some(LatencyObjective {
                objective,
                threshold: threshold?,
                histogram: histogram?,
            })
        }
        _ => {
            errors.push(pos.error(
                start,
                &name,
                "a latency objective needs `latency`, `percentile` and `histogram`",
            ));
            None
        }
    };
    if success.is_none() && latency.is_none() && errors.len() == before {
        errors.push(pos.error(
            start,
            &name,
            "an slo needs a success objective, a latency objective, or both",
        ));
    }
    let labels = check_labels(pos, s.labels, errors);
    (errors.len() == before).then_some(())?;
    Some(Slo {
        name,
        success,
        latency,
        labels,
        line: pos.line_col(start).0,
    })
}
