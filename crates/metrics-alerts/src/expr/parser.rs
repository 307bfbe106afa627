//! A recursive-descent parser for the alert grammar (docs/alerting.md):
//!
//! ```text
//! expr      := condition [ "by" "(" tag { "," tag } ")" ]
//! condition := "absent" "(" selector [ range ] ")"
//!            | value [ by ] cmp number
//! value     := operand [ "/" operand ]
//! operand   := ("rate" | "increase" | pNN) "(" selector range ")" | selector
//! selector  := name [ "{" tag ("=" | "!=") string { "," ... } "}" ]
//! range     := "[" duration "]"
//! cmp       := ">" | ">=" | "<" | "<=" | "==" | "!="
//! number    := digits [ "." digits ] [ "ms" | "s" | "m" | "h" | "d" | "%" ]
//! ```

use std::time::Duration;

use super::ExprError;
use super::ast::{CmpOp, Condition, Expr, MatchOp, Matcher, Operand, Selector, ValueExpr};
use super::lexer::{Tok, Token, tokenize};
use crate::duration::parse_duration;

/// Parses an alert expression.
///
/// ```
/// use metrics_alerts::expr::{parse_expr, Condition};
/// let e = parse_expr(r#"p99(job_duration_seconds{status="completed"}[10m]) > 2s by (batch_id)"#)?;
/// assert!(matches!(e.condition, Condition::Compare { threshold, .. } if threshold == 2.0));
/// assert_eq!(e.by, ["batch_id"]);
/// assert!(parse_expr("rate(job_errors_total[5x]) > 1").unwrap_err().to_string().contains("5x"));
/// # Ok::<(), metrics_alerts::expr::ExprError>(())
/// ```
///
/// # Errors
/// [`ExprError`] naming the offending token and its byte offset.
pub fn parse_expr(src: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: src.len(),
    };
    let expr = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t.clone(), "expected the end of the expression"));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self, what: &str) -> Result<Token, ExprError> {
        match self.tokens.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t.clone())
            }
            None => Err(ExprError {
                at: self.end,
                token: "end of expression".to_owned(),
                message: format!("expected {what}"),
            }),
        }
    }

    fn error_at(&self, t: Token, message: &str) -> ExprError {
        ExprError {
            at: t.at,
            token: t.text,
            message: message.to_owned(),
        }
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(q), .. }) if *q == p)
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Ident(n), .. }) if n == name)
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), ExprError> {
        let t = self.next(&format!("`{p}`"))?;
        if matches!(t.tok, Tok::Punct(q) if q == p) {
            Ok(())
        } else {
            Err(self.error_at(t, &format!("expected `{p}`")))
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, ExprError> {
        let t = self.next(what)?;
        match t.tok {
            Tok::Ident(n) => Ok(n),
            _ => Err(self.error_at(t, &format!("expected {what}"))),
        }
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        if self.is_ident("absent") {
            self.pos += 1;
            self.expect_punct("(")?;
            let selector = self.selector()?;
            let window = if self.is_punct("[") { Some(self.range()?) } else { None };
            self.expect_punct(")")?;
            if self.is_ident("by") {
                let t = self.next("`by`")?;
                return Err(self.error_at(t, "absent(...) cannot be grouped: it fires when nothing matches"));
            }
            return Ok(Expr {
                condition: Condition::Absent { selector, window },
                by: Vec::new(),
            });
        }
        let value = self.value()?;
        let mut by = if self.is_ident("by") { Some(self.by()?) } else { None };
        let t = self.next("a comparison (`>`, `>=`, `<`, `<=`, `==`, `!=`)")?;
        let op = match t.tok {
            Tok::Punct(">") => CmpOp::Gt,
            Tok::Punct(">=") => CmpOp::Ge,
            Tok::Punct("<") => CmpOp::Lt,
            Tok::Punct("<=") => CmpOp::Le,
            Tok::Punct("==") => CmpOp::Eq,
            Tok::Punct("!=") => CmpOp::Ne,
            _ => return Err(self.error_at(t, "expected a comparison (`>`, `>=`, `<`, `<=`, `==`, `!=`)")),
        };
        let t = self.next("a threshold number")?;
        let threshold = match &t.tok {
            Tok::Number(n) => number(n).ok_or_else(|| {
                self.error_at(
                    t.clone(),
                    "not a number (units: ms, s, m, h, d for durations, % for ratios)",
                )
            })?,
            _ => return Err(self.error_at(t, "expected a threshold number")),
        };
        if self.is_ident("by") {
            if by.is_some() {
                let t = self.next("`by`")?;
                return Err(self.error_at(t, "`by` given twice"));
            }
            by = Some(self.by()?);
        }
        Ok(Expr {
            condition: Condition::Compare { value, op, threshold },
            by: by.unwrap_or_default(),
        })
    }

    fn by(&mut self) -> Result<Vec<String>, ExprError> {
        self.pos += 1;
        self.expect_punct("(")?;
        let mut tags = vec![self.ident("a tag name")?];
        while self.is_punct(",") {
            self.pos += 1;
            tags.push(self.ident("a tag name")?);
        }
        self.expect_punct(")")?;
        Ok(tags)
    }

    fn value(&mut self) -> Result<ValueExpr, ExprError> {
        let a = self.operand()?;
        if self.is_punct("/") {
            self.pos += 1;
            let b = self.operand()?;
            return Ok(ValueExpr::Ratio(a, b));
        }
        Ok(ValueExpr::Single(a))
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        let t = self.next("a metric or a function (rate, increase, pNN)")?;
        let Tok::Ident(name) = &t.tok else {
            return Err(self.error_at(t, "expected a metric or a function (rate, increase, pNN)"));
        };
        if !self.is_punct("(") {
            self.pos -= 1;
            return Ok(Operand::Value(self.selector()?));
        }
        let percentile = percentile_of(name);
        if name != "rate" && name != "increase" && percentile.is_none() {
            return Err(self.error_at(
                t,
                "unknown function (known: rate, increase, p50, p90, p95, p99, p999, absent)",
            ));
        }
        self.pos += 1;
        let selector = self.selector()?;
        if !self.is_punct("[") {
            let t = self.next("a window like `[5m]`")?;
            return Err(self.error_at(t, &format!("{name}(...) needs a window like `[5m]`")));
        }
        let window = self.range()?;
        self.expect_punct(")")?;
        Ok(match (name.as_str(), percentile) {
            ("rate", _) => Operand::Rate(selector, window),
            ("increase", _) => Operand::Increase(selector, window),
            (_, Some(p)) => Operand::Percentile(p, selector, window),
            _ => return Err(self.error_at(t, "unknown function")),
        })
    }

    fn selector(&mut self) -> Result<Selector, ExprError> {
        let metric = self.ident("a metric name")?;
        let mut matchers = Vec::new();
        if self.is_punct("{") {
            self.pos += 1;
            while !self.is_punct("}") {
                let tag = self.ident("a tag name")?;
                let t = self.next("`=` or `!=`")?;
                let op = match t.tok {
                    Tok::Punct("=") => MatchOp::Eq,
                    Tok::Punct("!=") => MatchOp::Ne,
                    _ => return Err(self.error_at(t, "expected `=` or `!=` (regular expressions are not supported)")),
                };
                let t = self.next("a quoted tag value")?;
                let Tok::Str(value) = t.tok else {
                    return Err(self.error_at(t, "expected a quoted tag value"));
                };
                matchers.push(Matcher { tag, op, value });
                if self.is_punct(",") {
                    self.pos += 1;
                } else if !self.is_punct("}") {
                    let t = self.next("`,` or `}`")?;
                    return Err(self.error_at(t, "expected `,` or `}`"));
                }
            }
            self.pos += 1;
        }
        Ok(Selector { metric, matchers })
    }

    fn range(&mut self) -> Result<Duration, ExprError> {
        self.expect_punct("[")?;
        let t = self.next("a window like `5m`")?;
        let window = match &t.tok {
            Tok::Number(n) => parse_duration(n).filter(|d| !d.is_zero()),
            _ => None,
        };
        let Some(window) = window else {
            return Err(self.error_at(t, "expected a window like `30s`, `5m`, `1h` or `3d`"));
        };
        self.expect_punct("]")?;
        Ok(window)
    }
}

/// `p99` → 99, `p999` → 99.9, `p50` → 50.
fn percentile_of(name: &str) -> Option<f64> {
    let digits = name.strip_prefix('p')?;
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = format!("{}.{}", &digits[..2], &digits[2..]);
    let p: f64 = text.trim_end_matches('.').parse().ok()?;
    (p > 0.0 && p < 100.0).then_some(p)
}

/// A threshold with its unit: `2s` and `250ms` in seconds, `5%` as 0.05.
fn number(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() || c == '%')
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale = match unit {
        "" => 1.0,
        "%" => 0.01,
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    let v: f64 = digits.parse().ok()?;
    v.is_finite().then_some(v * scale)
}
