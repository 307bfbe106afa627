//! Errors: `RecordError` (a rejected name, value, type, tag or bucket: what
//! a record call returns), `MetricsError` (everything, I/O included) and
//! `ConfigError`.

use std::path::PathBuf;

use crate::MetricType;

/// Declares the validation variants once, for both [`MetricsError`] and
/// [`RecordErrorKind`], and the conversion between them: a variant added to
/// one is in the other with the same fields and message, and `?` keeps
/// turning a `RecordError` into the `MetricsError` of the same name.
macro_rules! errors_with_record_variants {
    (
        $( $(#[$meta:meta])* $variant:ident $({ $( $(#[$fmeta:meta])* $field:ident : $fty:ty ),* $(,)? })? ),* $(,)?
    ) => {
        /// Everything that can go wrong when recording, exporting or configuring.
        ///
        /// Record calls return the smaller [`RecordError`]; `?` turns it into the
        /// `MetricsError` variant of the same name, so code written against
        /// `MetricsError` keeps compiling.
        ///
        /// Every variant carries the offending value so the message alone tells the
        /// caller what to fix. A call that returns an error has recorded nothing.
        #[derive(Debug, thiserror::Error)]
        #[non_exhaustive]
        pub enum MetricsError {
            $( $(#[$meta])* $variant $({ $( $(#[$fmeta])* $field: $fty ),* })?, )*
            /// An exemplar's labels or value cannot be exposed.
            #[error("metric {name:?}: invalid exemplar {labels}: {reason}")]
            InvalidExemplar {
                /// The metric name.
                name: String,
                /// The rejected labels (at most 200 characters of them).
                labels: String,
                /// Why they were rejected.
                reason: String,
            },
            /// A unit given to `describe_metric` is not a lower-case identifier.
            #[error("metric {name:?}: invalid unit {unit:?}: {reason}")]
            InvalidUnit {
                /// The metric name.
                name: String,
                /// The rejected unit.
                unit: String,
                /// Why it was rejected.
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
            #[cfg(feature = "csv")]
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
            /// The durable store attached from `MetricsConfig::store` failed
            /// to write or close.
            #[error("durable store: {0}")]
            Store(String),
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

        /// The details of a [`RecordError`]; each variant carries the offending value.
        #[derive(Debug, Clone, PartialEq, thiserror::Error)]
        #[non_exhaustive]
        pub enum RecordErrorKind {
            $( $(#[$meta])* $variant $({ $( $(#[$fmeta])* $field: $fty ),* })?, )*
        }

        impl From<RecordError> for MetricsError {
            fn from(err: RecordError) -> Self {
                match err.into_kind() {
                    $( RecordErrorKind::$variant $({ $($field),* })? => MetricsError::$variant $({ $($field),* })?, )*
                }
            }
        }
    };
}

errors_with_record_variants! {
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
    /// A counter was given a negative increment.
    #[error("counter {name:?}: increment {value} is negative; counters only go up (use a gauge)")]
    NegativeCounterIncrement {
        /// The metric name.
        name: String,
        /// The rejected increment.
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
    /// A timer was given a negative duration.
    #[error("timer {name:?}: duration {value} s is negative; a duration is measured from a start to a later end")]
    NegativeDuration {
        /// The metric name.
        name: String,
        /// The rejected duration, in seconds.
        value: f64,
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
}

/// A rejected record: the name, value, type, tags or buckets of a call were
/// invalid, and nothing was recorded.
///
/// One pointer wide, so a `Result<(), RecordError>` fits in a register on
/// the hot path; the details are behind [`kind`](Self::kind). Converts into
/// the [`MetricsError`] variant of the same name (`?` does it), with the
/// same message.
///
/// ```
/// use metrics_core::{MetricType, MetricsCollector, MetricsError, RecordErrorKind};
/// let c = MetricsCollector::default();
/// let err = c.record_metric("jobs", f64::NAN, &[], MetricType::Counter).unwrap_err();
/// assert!(matches!(err.kind(), RecordErrorKind::NonFiniteValue { .. }));
/// assert!(matches!(MetricsError::from(err), MetricsError::NonFiniteValue { .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError(Box<RecordErrorKind>);

impl RecordError {
    /// What was wrong, with the offending value.
    pub fn kind(&self) -> &RecordErrorKind {
        &self.0
    }

    /// The details, by value.
    pub fn into_kind(self) -> RecordErrorKind {
        *self.0
    }
}

impl From<RecordErrorKind> for RecordError {
    #[cold]
    fn from(kind: RecordErrorKind) -> Self {
        RecordError(Box::new(kind))
    }
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for RecordError {}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every kind, with the values a caller would see.
    fn every_kind() -> Vec<RecordErrorKind> {
        use RecordErrorKind as K;
        let name = || "jobs".to_owned();
        vec![
            K::EmptyName,
            K::NameTooLong {
                preview: "x".repeat(32),
                len: 300,
                max: 255,
            },
            K::NameControlChar { name: name(), ch: '\n' },
            K::NonFiniteValue {
                name: name(),
                value: f64::NAN,
            },
            K::NegativeCounterIncrement {
                name: name(),
                value: -1.5,
            },
            K::TypeMismatch {
                name: name(),
                existing: MetricType::Counter,
                requested: MetricType::Gauge,
            },
            K::EmptyTagKey { name: name() },
            K::InvalidTagKey {
                name: name(),
                key: "k\u{1}".into(),
                reason: "contains a control character",
            },
            K::InvalidTagValue {
                name: name(),
                key: "k".into(),
                value: "v".into(),
                reason: "too long".into(),
            },
            K::DuplicateTagKey {
                name: name(),
                key: "status".into(),
            },
            K::ReservedTagKey {
                name: name(),
                key: "overflow".into(),
            },
            K::TooManyTags {
                name: name(),
                count: 17,
                max: 16,
            },
            K::InvalidBuckets {
                name: name(),
                buckets: vec![2.0, 1.0],
                reason: "bounds must be strictly increasing",
            },
            K::AggregateOverflow {
                name: name(),
                value: 1e308,
            },
            K::NegativeDuration {
                name: name(),
                value: -0.5,
            },
            K::TooManySeries { name: name(), max: 100 },
        ]
    }

    #[test]
    fn a_record_error_is_one_pointer() {
        assert_eq!(size_of::<RecordError>(), size_of::<usize>());
        assert_eq!(size_of::<std::result::Result<(), RecordError>>(), size_of::<usize>());
    }

    #[test]
    fn every_record_error_converts_to_the_metrics_error_with_its_message() {
        for kind in every_kind() {
            let err = RecordError::from(kind.clone());
            let message = err.to_string();
            let wide = MetricsError::from(err);
            assert_eq!(wide.to_string(), message, "{kind:?}");
            assert_eq!(format!("{kind:?}"), format!("{wide:?}"), "same variant and fields");
        }
    }
}
