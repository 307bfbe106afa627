//! The alert expression language: a small grammar, not a query language.
//! `docs/alerting.md` lists every form with an example.

mod ast;
mod lexer;
mod parser;

pub use ast::{CmpOp, Condition, Expr, MatchOp, Matcher, Operand, Selector, ValueExpr};
pub use parser::parse_expr;

/// An expression that does not parse: where, which token, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `{token}` (offset {at}): {message}")]
pub struct ExprError {
    /// Byte offset of the token in the expression.
    pub at: usize,
    /// The offending token as written (`end of expression` at the end).
    pub token: String,
    /// What was expected.
    pub message: String,
}
