//! Where windows find samples the live collector no longer holds: a
//! durable store's history, behind the [`SampleHistory`] trait.
//!
//! The live collector keeps a bounded suffix of each series' samples (its
//! `retention` and `max_samples_per_series`), and a restarted process
//! starts with none. With a history attached
//! ([`Evaluator::with_history`](crate::Evaluator::with_history)), a window
//! reads the collector's samples from the oldest one it still holds (for
//! that series and selector) up to now, and the history's samples before
//! that: so a `[3d]` window sees three days even when the collector keeps
//! one, and a window that spans a restart sees both sides of it. Each
//! sample is counted once: the collector's part and the history's part do
//! not overlap.

use std::collections::BTreeMap;

use metrics_core::MetricType;

/// One sample read from a [`SampleHistory`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySample {
    /// When it was recorded, in ns since the Unix epoch.
    pub timestamp_nanos: i64,
    /// The value as recorded (a counter's increment, a gauge's value, one
    /// observation of a histogram or timer).
    pub value: f64,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// Why a history could not be read. The evaluator reports it (in
/// [`EvalReport::errors`](crate::EvalReport::errors) and the log) and
/// evaluates that window on the collector's samples alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading the sample history: {0}")]
pub struct HistoryError(pub String);

/// Samples older than what the live collector retains, such as a durable
/// store's (see [`StoreHistory`](crate::StoreHistory), feature `store`).
pub trait SampleHistory: Send {
    /// The type of the series named exactly `name`, `None` when the history
    /// has no such series.
    ///
    /// # Errors
    /// When the history cannot be read.
    fn metric_type(&mut self, name: &str) -> Result<Option<MetricType>, HistoryError>;

    /// The samples of the series `name` recorded at `since ..= until` (ns
    /// since the epoch) that carry every pair of `tags`, in any order.
    ///
    /// # Errors
    /// When the history cannot be read.
    fn samples(
        &mut self,
        name: &str,
        tags: &[(String, String)],
        since: i64,
        until: i64,
    ) -> Result<Vec<HistorySample>, HistoryError>;
}
