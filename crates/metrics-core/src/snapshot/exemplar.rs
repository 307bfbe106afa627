//! Exemplar values: the labels, value and time of one observation, as snapshots and exports carry them.

use serde::{Deserialize, Serialize};

/// Most characters of label names and values one exemplar may carry
/// (OpenMetrics' limit).
pub const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// One exemplar: the labels that identify where an observation came from,
/// its value and when it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    /// Label pairs, e.g. `[("trace_id", "4bf92f35")]`.
    pub labels: Vec<(String, String)>,
    /// The observed value (a counter's increment).
    pub value: f64,
    /// When it was recorded, in ns since the Unix epoch.
    pub timestamp_nanos: i64,
}

/// The latest exemplar of one bucket of one tag set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketExemplar {
    /// The bucket's index: into the histogram's bounds, their length for
    /// `+Inf`; 0 for a counter.
    pub bucket: usize,
    /// The exemplar.
    pub exemplar: Exemplar,
}
