//! A concurrent metrics store for Rust programs: counters, gauges,
//! histograms and timers with tags, timestamped samples, retention, exact
//! summaries, cumulative aggregates, and JSON/CSV export.
//!
//! ```
//! use metrics_core::{MetricsCollector, MetricsConfig, MetricType, TagFilter, SummaryQuery};
//!
//! let metrics = MetricsCollector::new(MetricsConfig::default());
//!
//! // The event path: every call is kept as a timestamped sample.
//! metrics.record_metric("job_duration_seconds", 1.5, &[("status", "completed")], MetricType::Timer)?;
//! metrics.record_metric("job_duration_seconds", 0.5, &[("status", "failed")], MetricType::Timer)?;
//!
//! // The hot path: a handle resolved once, updated without lookups.
//! let done = metrics.counter("jobs_total", &[("status", "completed")])?;
//! done.increment(1);
//!
//! let series = metrics.get_metric_series("job_duration_seconds").unwrap();
//! let completed = series.values_matching(&TagFilter::new().with("status", "completed"));
//! assert_eq!(completed.len(), 1);
//! assert_eq!(series.summary(&SummaryQuery::all()).unwrap().sum, 2.0);
//!
//! let json = metrics.export_to_json();
//! assert!(json.contains("\"job_duration_seconds\""));
//! # Ok::<(), metrics_core::MetricsError>(())
//! ```
//!
//! Most programs use the process-wide collector, [`get_metrics_collector`],
//! and start background sampling and export with [`initialize_metrics`].
//! `docs/architecture.md` in the repository explains the design.
//!
//! With the default feature `macros`, [`record_execution_time`] and
//! [`record_memory_usage`] instrument functions; [`alloc::CountingAllocator`]
//! makes their memory figures exact (`docs/instrumentation.md`).

// Lets the attribute macros' expansion name this crate `::metrics_core`
// from inside it too (unit tests, doctests).
extern crate self as metrics_core;

pub mod alloc;
mod buckets;
mod cell;
pub mod clock;
mod collector;
mod config;
mod error;
pub mod export;
pub mod family;
mod handles;
mod hash;
mod image;
pub mod instrument;
mod kind;
mod names;
mod persist;
mod runtime;
mod snapshot;
mod store;
mod sync;
mod tags;

pub use buckets::{Buckets, BucketsError, MAX_BUCKETS};
pub use cell::sketch;
pub use collector::{
    DEFAULT_BUCKETS, MetricOptions, MetricsCollector, REJECTED_SERIES_METRIC, get_metrics_collector,
    global_metrics_collector,
};
pub use config::{ENV_VARS, MetricsConfig};
pub use error::{ConfigError, MetricsError, RecordError, RecordErrorKind, Result};
pub use export::ImportStats;
pub use family::{
    CounterFamily, Family, GaugeFamily, HistogramFamily, InternError, Interned, LabelSet, LabelValue, TimerFamily,
};
pub use handles::{Counter, Gauge, Histogram, Timer, TimerGuard};
pub use kind::{MetricType, ParseMetricTypeError};
#[cfg(feature = "macros")]
pub use metrics_macros::{LabelSet, LabelValue, record_execution_time, record_memory_usage};
pub use names::edit_distance;
pub use persist::{ExportPaths, export_all};
pub use runtime::durable::{DurableStoreAttachment, DurableStoreBackend, install_store_backend};
pub use runtime::manager::{MetricsManager, initialize_metrics, initialize_metrics_with, shutdown_metrics};
#[cfg(feature = "system")]
pub use runtime::system;
#[cfg(feature = "system")]
pub use runtime::system::record_system_metrics;
pub use snapshot::exemplar::{BucketExemplar, Exemplar, MAX_EXEMPLAR_LABEL_CHARS};
pub use snapshot::self_metrics::OVERFLOW_SELF_METRIC;
pub use snapshot::summary::{Summary, SummaryQuery};
pub use snapshot::{
    AggregateValue, Bucket, HistogramSnapshot, MetricValue, Quantiles, SeriesInfo, SeriesSnapshot, Snapshot,
    TagSetAggregate,
};
pub use store::overflow::{OVERFLOW_LOG_TARGET, OVERFLOW_REPORT_INTERVAL, OverflowEvent, OverflowHook};
pub use store::series::{MetricSeries, SamplePolicy};
pub use store::sink::{SampleSink, SeriesKey};
pub use store::validate::{
    MAX_NAME_LEN, MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN, MAX_TAGS_LIMIT, OVERFLOW_TAG_KEY, validate_name,
};
pub use tags::{TagFilter, TagSet, Tags};

/// The workspace README's Rust examples, compiled and run as doctests so
/// they cannot drift from the API.
/// They use the derives, so they need the default `macros` feature.
#[cfg(all(doctest, feature = "macros"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
