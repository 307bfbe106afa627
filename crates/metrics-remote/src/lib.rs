//! Prometheus remote write 1.0 and OTLP/HTTP (protobuf) export of a
//! [`MetricsCollector`](metrics_core::MetricsCollector): every retained
//! sample at its own timestamp, and the cumulative aggregates (counter
//! totals, gauges, histogram `_bucket`/`_sum`/`_count`) at each send
//! interval.
//!
//! * Remote write: snappy-block-compressed `WriteRequest`s with
//!   `Content-Encoding: snappy`, `Content-Type: application/x-protobuf`,
//!   `X-Prometheus-Remote-Write-Version: 0.1.0` and a `User-Agent`; labels
//!   sorted by name; series and label names exactly those of the
//!   collector's Prometheus text exposition.
//! * OTLP: `ExportMetricsServiceRequest`s POSTed to `/v1/metrics`;
//!   cumulative temporality, counters as monotonic sums, timers in seconds.
//! * Bounded batches, a bounded queue whose overflow is counted, retries of
//!   5xx/429 with exponential backoff and jitter honouring `Retry-After`,
//!   4xx dropped with one [`SendEvent`], a final flush at shutdown.
//! * A [`SendPosition`] (last acknowledged timestamp per series) lets a
//!   restarted sender resume re-sending at most one batch.
//!
//! The HTTP client is `ureq` without TLS: receivers are reached over
//! `http://` only.
//!
//! ```no_run
//! use std::sync::Arc;
//! use metrics_core::{MetricsCollector, MetricType};
//! use metrics_remote::{MemoryPosition, SendConfig, Sender, Target};
//! let collector = Arc::new(MetricsCollector::default());
//! let target = Target::remote_write("http://127.0.0.1:9090/api/v1/write")?;
//! let sender = Sender::start(Arc::clone(&collector), target, SendConfig::default(),
//!     Box::new(MemoryPosition::new()), None)?;
//! collector.record_metric("jobs.done", 1.0, &[("queue", "a")], MetricType::Counter)?;
//! let stats = sender.shutdown(); // final flush
//! assert!(stats.all_sent());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod batch;
mod config;
mod error;
mod events;
mod history;
mod labels;
mod otlp;
mod position;
pub mod proto;
mod prw;
mod sender;
mod transport;

pub use batch::{Batch, encode_pending};
pub use config::{Auth, Protocol, SendConfig, Target};
pub use error::RemoteError;
pub use events::{EventSink, SendEvent, SendStats};
pub use position::{FilePosition, MemoryPosition, Positions, SendPosition};
pub use prw::{decode_write_request, encode_write_request};
pub use sender::{DurableUntil, Sender, push_history};
pub use transport::USER_AGENT;
