//! Brings the Rust ecosystem's metrics into a [`metrics_core::MetricsCollector`].
//!
//! * feature `facade`: [`MetricsRecorder`], a [`metrics::Recorder`]. Every
//!   `counter!`, `gauge!`, `histogram!` and `describe_*!` of any crate lands
//!   in the collector: labels become tags (under the collector's
//!   cardinality cap), descriptions become help text (`# HELP`), and the
//!   facade's handles are metrics-core handles resolved once per thread.
//! * feature `tracing`: [`MetricsLayer`], a `tracing_subscriber::Layer`.
//!   Each closed span's busy and total time become a timer
//!   `<target>.<span name>.duration` tagged with allow-listed span fields;
//!   events with `counter.`, `gauge.` and `histogram.` fields become updates.
//!
//! Both features are on by default; turn default features off and pick one
//! to build only what you use. `docs/ecosystem.md` in the repository shows
//! how both compose with `#[record_execution_time]`.
//!
//! ```
//! # #[cfg(feature = "facade")] {
//! use std::sync::Arc;
//! use metrics_core::{AggregateValue, MetricsCollector};
//! use metrics_bridge::MetricsRecorder;
//!
//! let collector = Arc::new(MetricsCollector::default());
//! let recorder = MetricsRecorder::new(Arc::clone(&collector));
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::counter!("cache_hits", "cache" => "users").increment(3);
//! });
//! let series = collector.get_metric_series("cache_hits").unwrap();
//! assert_eq!(series.aggregate(&[("cache", "users")]), Some(AggregateValue::Counter { total: 3.0 }));
//! # }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "facade")]
pub mod facade;
#[cfg(feature = "tracing")]
pub mod tracing;

#[cfg(feature = "facade")]
pub use facade::{InstallError, MetricsRecorder, install};
#[cfg(feature = "tracing")]
pub use tracing::{LayerConfig, LayerConfigError, MetricsLayer};
