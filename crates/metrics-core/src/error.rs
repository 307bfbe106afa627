//! Errors returned by the store, the exporters and the configuration.

use std::path::PathBuf;

use crate::MetricType;

/// Everything that can go wrong when recording, exporting or configuring.
///
/// Every variant carries the offending value so the message alone tells the
/// caller what to fix. A call that returns an error has recorded nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The metric name is empty.
    #[error("metric name is empty; give the metric a non-empty name such as \"jobs_completed\"")]
    EmptyName,
    /// The metric name is longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    #[error("metric name {preview:?}... is {len} bytes long; names are limited to {max} bytes")]
    NameTooLong {
        /// The first 32 characters of the name.
        preview: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The metric name contains a control character.
    #[error("metric name {name:?} contains the control character {ch:?}; use printable characters")]
    NameControlChar {
        /// The name as given.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The value is NaN or infinite.
    #[error("metric {name:?}: value {value} is not a finite number")]
    NonFiniteValue {
        /// The metric name.
        name: String,
        /// The rejected value.
        value: f64,
    },
    /// The value is finite, but adding it would make the metric's aggregate
    /// (a counter total, a gauge value, a histogram or timer sum) overflow
    /// to infinity.
    #[error(
        "metric {name:?}: value {value:e} would make its total or sum exceed the largest finite number (±1.8e308); nothing was recorded"
    )]
    AggregateOverflow {
        /// The metric name.
        name: String,
        /// The rejected value.
        value: f64,
    },
    /// A counter was given a negative increment.
    #[error("counter {name:?}: increment {value} is negative; counters only go up (use a gauge)")]
    NegativeCounterIncrement {
        /// The metric name.
        name: String,
        /// The rejected increment.
        value: f64,
    },
    /// A timer was given a negative duration.
    #[error("timer {name:?}: duration {value} s is negative; a duration is measured from a start to a later end")]
    NegativeDuration {
        /// The metric name.
        name: String,
        /// The rejected duration, in seconds.
        value: f64,
    },
    /// The name already belongs to a series of another type.
    #[error("metric {name:?} is a {existing}, not a {requested}; use another name or the same type")]
    TypeMismatch {
        /// The metric name.
        name: String,
        /// The type the series was created with.
        existing: MetricType,
        /// The type of the rejected call.
        requested: MetricType,
    },
    /// A new metric name was refused: the collector holds `max_series`
    /// series already.
    #[error(
        "metric {name:?} was not created: the collector already holds {max} series, its max_series cap (METRICS_MAX_SERIES); raise the cap or reuse names and tell events apart by tags"
    )]
    TooManySeries {
        /// The refused name (at most 64 characters of it).
        name: String,
        /// The cap.
        max: usize,
    },
    /// A tag key is empty.
    #[error("metric {name:?}: a tag key is empty")]
    EmptyTagKey {
        /// The metric name.
        name: String,
    },
    /// A tag key is too long or contains a control character.
    #[error("metric {name:?}: tag key {key:?} is invalid: {reason}")]
    InvalidTagKey {
        /// The metric name.
        name: String,
        /// The rejected key (at most 64 characters of it).
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A tag value is too long or contains a forbidden control character.
    #[error("metric {name:?}: value {value:?} of tag {key:?} is invalid: {reason}")]
    InvalidTagValue {
        /// The metric name.
        name: String,
        /// The key of the tag.
        key: String,
        /// The rejected value (at most 64 characters of it).
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The same tag key was given twice on one sample.
    #[error("metric {name:?}: tag key {key:?} is given more than once")]
    DuplicateTagKey {
        /// The metric name.
        name: String,
        /// The repeated key.
        key: String,
    },
    /// A tag key is reserved by the store.
    #[error("metric {name:?}: tag key {key:?} is reserved by the store")]
    ReservedTagKey {
        /// The metric name.
        name: String,
        /// The reserved key.
        key: String,
    },
    /// One sample carries more tags than allowed.
    #[error("metric {name:?}: {count} tags on one sample; at most {max} are allowed")]
    TooManyTags {
        /// The metric name.
        name: String,
        /// How many tags were given.
        count: usize,
        /// The limit (`MetricsConfig::max_tags_per_sample`).
        max: usize,
    },
    /// Histogram buckets are empty, unsorted or not finite.
    #[error("metric {name:?}: invalid histogram buckets {buckets:?}: {reason}")]
    InvalidBuckets {
        /// The metric name.
        name: String,
        /// The rejected bounds.
        buckets: Vec<f64>,
        /// Why they were rejected.
        reason: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("writing", "creating directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding or decoding JSON failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing CSV failed.
    #[error("CSV for series {series:?}: {source}")]
    Csv {
        /// The series being written.
        series: String,
        /// The underlying error.
        #[source]
        source: csv::Error,
    },
    /// A timestamp in imported data could not be parsed.
    #[error("timestamp {value:?} is not an RFC 3339 time: {reason}")]
    BadTimestamp {
        /// The rejected text.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A configuration value is malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// System figures could not be read on this platform.
    #[error("reading system metrics: {0}")]
    SystemInfo(String),
    /// A background thread could not be started.
    #[error("starting thread {name:?}: {source}")]
    Thread {
        /// The thread name.
        name: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A configuration value that could not be used, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    /// The environment variable or field name.
    pub variable: String,
    /// The value as given.
    pub value: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl MetricsError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MetricsError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results whose error is [`MetricsError`].
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;
