//! Threshold alerts and SLOs for `metrics-core`, from one rules file:
//!
//! * [`RuleSet`]: the TOML rules file, checked with errors that name file,
//!   line, column and token ([`Diagnostic`]);
//! * [`expr`]: the small expression grammar (thresholds, `rate`,
//!   `increase`, `pNN`, ratios, `absent`, `by (tag)`);
//! * [`Evaluator`]: in-process evaluation against a live
//!   [`MetricsCollector`](metrics_core::MetricsCollector) and, for windows,
//!   a [`SampleHistory`] (feature `store`: [`StoreHistory`], a metrics
//!   database), states inactive → pending → firing → resolved kept in an
//!   [`AlertStateStore`];
//! * [`deliver`]: Alertmanager API v2 and JSON webhooks;
//! * [`export`]: the same rules as Prometheus alerting rules, and SLOs as
//!   multi-window, multi-burn-rate alerts with their recording rules.
//!
//! ```
//! use std::sync::Arc;
//! use metrics_alerts::{Evaluator, RuleSet, AlertStatus, JsonFileStore};
//! use metrics_core::{MetricsCollector, MetricType};
//!
//! let rules = RuleSet::parse("alerts.toml", r#"
//! [[rule]]
//! name = "QueueDeep"
//! expr = "queue_depth > 100"
//! "#)?;
//! let collector = Arc::new(MetricsCollector::default());
//! let dir = tempfile::tempdir()?;
//! let store = JsonFileStore::new(dir.path().join("alerts.json"));
//! let mut evaluator = Evaluator::new(rules, Arc::clone(&collector), Box::new(store))?;
//! collector.record_metric("queue_depth", 250.0, &[("queue", "a")], MetricType::Gauge)?;
//! let report = evaluator.evaluate();
//! assert_eq!(report.changes[0].alert.status, AlertStatus::Firing);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod deliver;
mod diagnostic;
mod duration;
pub mod eval;
mod evaluator;
pub mod export;
pub mod expr;
mod function_slo;
pub mod history;
mod names;
mod rules;
pub mod slo;
mod state;
mod store;
#[cfg(feature = "store")]
mod store_history;
mod template;

pub use deliver::{AlertmanagerClient, DeliveryError, Notifier, WebhookClient};
pub use diagnostic::{Diagnostic, RulesError, Severity};
pub use duration::{format_duration, parse_duration};
pub use evaluator::{CurrentAlerts, EvalReport, Evaluator, RESOLVED_RETENTION, RunningEvaluator};
pub use function_slo::{function_slo, function_slo_name};
pub use history::{HistoryError, HistorySample, SampleHistory};
pub use names::kind_of;
pub use rules::{DEFAULT_EVAL_INTERVAL, MetricKind, Rule, RuleSet};
pub use state::{Alert, AlertStatus, StateChange};
pub use store::{AlertStateStore, JsonFileStore, StoreError};
#[cfg(feature = "store")]
pub use store_history::StoreHistory;
pub use template::render;
