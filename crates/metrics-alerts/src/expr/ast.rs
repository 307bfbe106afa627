//! What an alert expression means, once parsed.

use std::time::Duration;

/// A metric name with tag matchers: `job_errors_total{error_type="exit"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The metric name as written: our own name (`job_errors`) or the
    /// exposition name (`job_errors_total`); both find the same series.
    pub metric: String,
    /// Tag matchers, all of which must hold.
    pub matchers: Vec<Matcher>,
}

/// One `tag="value"` or `tag!="value"` matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// The tag key.
    pub tag: String,
    /// Equal or not equal.
    pub op: MatchOp,
    /// The value compared with.
    pub value: String,
}

/// How a [`Matcher`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: the tag has this value (a missing tag has the value `""`).
    Eq,
    /// `!=`: the tag has another value.
    Ne,
}

impl Matcher {
    /// Whether a series whose tag `self.tag` has `value` (`None`: no such
    /// tag, which matches like `""` as in Prometheus) passes.
    pub fn accepts(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Ne => v != self.value,
        }
    }
}

/// One measured quantity.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// The current value: a gauge's latest value, a counter's total
    /// (summed over the matching tag sets, or the largest gauge).
    Value(Selector),
    /// `rate(sel[w])`: the increments recorded in the window, per second.
    Rate(Selector, Duration),
    /// `increase(sel[w])`: the increments recorded in the window.
    Increase(Selector, Duration),
    /// `pNN(sel[w])`: the NN-th percentile (0–100) of the values recorded
    /// in the window.
    Percentile(f64, Selector, Duration),
    /// The fraction of the values recorded in the window that exceed the
    /// threshold (seconds): the bad events of a latency objective. Rules
    /// files cannot write it; `[[slo]]` entries produce it.
    SlowerThan(Selector, f64, Duration),
}

impl Operand {
    /// The selector the operand reads.
    pub fn selector(&self) -> &Selector {
        match self {
            Operand::Value(s)
            | Operand::Rate(s, _)
            | Operand::Increase(s, _)
            | Operand::Percentile(_, s, _)
            | Operand::SlowerThan(s, _, _) => s,
        }
    }
}

/// A quantity, or the ratio of two.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExpr {
    /// One operand.
    Single(Operand),
    /// `a / b`, per group; no value where `b` is zero.
    Ratio(Operand, Operand),
}

impl ValueExpr {
    /// The operands, numerator first.
    pub fn operands(&self) -> Vec<&Operand> {
        match self {
            ValueExpr::Single(a) => vec![a],
            ValueExpr::Ratio(a, b) => vec![a, b],
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Whether `value OP threshold` holds (never for NaN).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            CmpOp::Gt => value > threshold,
            CmpOp::Ge => value >= threshold,
            CmpOp::Lt => value < threshold,
            CmpOp::Le => value <= threshold,
            CmpOp::Eq => value == threshold,
            CmpOp::Ne => value != threshold && !value.is_nan(),
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// When a rule's alert is active.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `VALUE OP THRESHOLD`.
    Compare {
        /// The measured value.
        value: ValueExpr,
        /// The comparison.
        op: CmpOp,
        /// The threshold, in the metric's unit (`2s` and `250ms` are
        /// seconds, `5%` is 0.05).
        threshold: f64,
    },
    /// Every condition holds, for the same group (an SLO's long and short
    /// window); the value is the first one's. `[[slo]]` entries produce it.
    All(Vec<Condition>),
    /// `absent(sel)`: no matching series exists; `absent(sel[w])`: none
    /// recorded a sample in the window.
    Absent {
        /// What must be present.
        selector: Selector,
        /// The window, if any.
        window: Option<Duration>,
    },
}

/// A parsed alert expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// When the alert is active.
    pub condition: Condition,
    /// `by (tag, ...)`: one alert per distinct combination of these tags;
    /// empty: one alert for all matching series.
    pub by: Vec<String>,
}

impl Expr {
    /// Every selector the expression reads.
    pub fn selectors(&self) -> Vec<&Selector> {
        self.condition.selectors()
    }
}

impl Condition {
    /// Every selector the condition reads.
    pub fn selectors(&self) -> Vec<&Selector> {
        match self {
            Condition::Compare { value, .. } => value.operands().into_iter().map(Operand::selector).collect(),
            Condition::All(all) => all.iter().flat_map(Condition::selectors).collect(),
            Condition::Absent { selector, .. } => vec![selector],
        }
    }
}
