//! The alert states the dashboard shows, and where they come from.
//!
//! metrics-api knows nothing of alert rules: the program that serves (the
//! `bykilt` CLI) hands the state an [`AlertBoard`] that reads its evaluator.

use std::collections::BTreeMap;

use serde::Serialize;

/// One alert as `GET /api/alerts` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    /// The rule's name.
    pub name: String,
    /// `pending`, `firing` or `resolved` (or `inactive`).
    pub state: String,
    /// When the state last changed (RFC 3339).
    pub since: String,
    /// Every label of the alert (`alertname`, its group's tags, the rule's labels).
    pub labels: BTreeMap<String, String>,
    /// The last value the condition saw.
    pub value: f64,
}

/// The current alerts of an evaluator running beside the server.
pub trait AlertBoard: Send + Sync + std::fmt::Debug {
    /// Every alert held now.
    fn alerts(&self) -> Vec<AlertView>;
}
