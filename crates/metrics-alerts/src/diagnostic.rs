//! Problems found in a rules file, each naming file, line, column and the
//! offending token.

use std::fmt;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file cannot be used.
    Error,
    /// The file works but probably not as meant (a metric no run produced).
    Warning,
}

/// One problem in a rules file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The offending token as written.
    pub token: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {kind}: at `{}`: {}",
            self.file, self.line, self.column, self.token, self.message
        )
    }
}

impl Diagnostic {
    /// `file:line:column: at `token`: message`, without the severity (for
    /// callers that print it themselves).
    pub fn located(&self) -> String {
        format!(
            "{}:{}:{}: at `{}`: {}",
            self.file, self.line, self.column, self.token, self.message
        )
    }
}

/// Every error of a rules file that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct RulesError(pub Vec<Diagnostic>);

/// Maps byte offsets of a file to 1-based lines and columns.
#[derive(Debug, Clone)]
pub(crate) struct Positions<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl Positions<'_> {
    /// The (line, column) of byte `offset` (clamped to the text).
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// An error at byte `offset`.
    pub(crate) fn error(&self, offset: usize, token: &str, message: impl Into<String>) -> Diagnostic {
        self.at(Severity::Error, offset, token, message)
    }

    /// A diagnostic at byte `offset`.
    pub(crate) fn at(&self, severity: Severity, offset: usize, token: &str, message: impl Into<String>) -> Diagnostic {
        let (line, column) = self.line_col(offset);
        Diagnostic {
            severity,
            file: self.file.to_owned(),
            line,
            column,
            token: token.to_owned(),
            message: message.into(),
        }
    }
}
