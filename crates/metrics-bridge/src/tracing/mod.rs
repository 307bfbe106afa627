//! A `tracing_subscriber::Layer` that turns spans and events into metrics.
//!
//! **Spans.** When a span closes, its busy time (inside the span: the sum
//! of enter-to-exit intervals) and its total time (creation to close) are
//! recorded into the timer named by [`LayerConfig::span_metric_name`]
//! (default `<target>.<span name>.duration`), with the tag
//! `time="busy"` or `time="total"` and the span's allowed fields
//! ([`LayerConfig::fields`]) as tags. A span that is never entered has a
//! busy time of zero. The timer follows its series' `SamplePolicy`
//! (default `AggregateOnly`: the aggregates and the sketch get every
//! duration, no timestamped samples).
//!
//! **Events.** As tracing-opentelemetry's `MetricsLayer` does, an event's
//! fields named `counter.NAME`, `gauge.NAME` and `histogram.NAME` become an
//! increment of the counter `NAME`, a set of the gauge `NAME` and an
//! observation of the histogram `NAME`, tagged with the event's allowed
//! fields (not the span's). `tracing::info!(counter.requests = 1, route = "/a")`
//! with `route` allowed adds 1 to `requests{route="/a"}`. A counter field must
//! be a non-negative number; a string or a negative counter is refused.
//!
//! **Errors.** A layer cannot return an error, so what the store refuses
//! (an invalid name, a name of another type, a bad value) is counted in
//! [`MetricsLayer::rejected_updates`] and the last message kept in
//! [`MetricsLayer::last_error`].
//!
//! ```
//! use std::sync::Arc;
//! use metrics_core::{AggregateValue, MetricsCollector};
//! use metrics_bridge::{LayerConfig, MetricsLayer};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let collector = Arc::new(MetricsCollector::default());
//! let layer = MetricsLayer::new(Arc::clone(&collector), LayerConfig::default().with_fields(["route"]))?;
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     let span = tracing::info_span!(target: "shop", "checkout", route = "/cart", user = 42);
//!     span.in_scope(|| tracing::info!(counter.orders = 1, route = "/cart"));
//! });
//! let timer = collector.get_metric_series("shop.checkout.duration").unwrap();
//! let Some(AggregateValue::Histogram(busy)) = timer.aggregate(&[("route", "/cart"), ("time", "busy")]) else {
//!     panic!("no busy time")
//! };
//! assert_eq!(busy.count, 1); // `user` is not an allowed field: not a tag
//! let orders = collector.get_metric_series("orders").unwrap();
//! assert_eq!(orders.aggregate(&[("route", "/cart")]), Some(AggregateValue::Counter { total: 1.0 }));
//! # Ok::<(), metrics_bridge::LayerConfigError>(())
//! ```

mod config;
mod fields;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use metrics_core::{MetricType, MetricsCollector};
use tracing_core::callsite::Identifier;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub use self::config::{
    DEFAULT_SPAN_METRIC_NAME, DEFAULT_TIME_TAG, LayerConfig, LayerConfigError, NAME_PLACEHOLDER, TARGET_PLACEHOLDER,
};
use self::fields::{EventVisitor, FieldTags, FieldUpdate, FieldValue, TagVisitor};

/// A `tracing_subscriber::Layer` recording span durations as timers and
/// prefixed event fields as counter, gauge and histogram updates into a
/// [`MetricsCollector`]. See the [module docs](self).
///
/// Cheap to clone; clones share the error counters and the name cache.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    inner: Arc<LayerInner>,
}

#[derive(Debug)]
struct LayerInner {
    collector: Arc<MetricsCollector>,
    config: LayerConfig,
    /// Timer name per span callsite, built once from the template.
    names: RwLock<HashMap<Identifier, Arc<str>>>,
    rejected: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// What the layer keeps in a span's extensions between its creation and close.
struct SpanTiming {
    metric: Arc<str>,
    tags: FieldTags,
    created: Instant,
    busy: Duration,
    /// When the outermost enter still open began (a span can be entered
    /// again while entered, e.g. re-entrant code or a second thread).
    entered_at: Option<Instant>,
    depth: u32,
    /// The value of `LayerConfig::exemplar_field`, when the span has it.
    exemplar: Option<String>,
}

impl MetricsLayer {
    /// A layer recording into `collector`.
    ///
    /// # Errors
    /// The configuration's [`LayerConfig::validate`] error.
    pub fn new(collector: Arc<MetricsCollector>, config: LayerConfig) -> Result<Self, LayerConfigError> {
        config.validate()?;
        Ok(MetricsLayer {
            inner: Arc::new(LayerInner {
                collector,
                config,
                names: RwLock::new(HashMap::new()),
                rejected: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &LayerConfig {
        &self.inner.config
    }

    /// The collector recorded into.
    pub fn collector(&self) -> &Arc<MetricsCollector> {
        &self.inner.collector
    }

    /// Span timings and event updates the store refused.
    pub fn rejected_updates(&self) -> u64 {
        self.inner.rejected.load(Relaxed)
    }

    /// The most recent refusal's message, naming the bad name or value.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reject(&self, message: String) {
        self.inner.rejected.fetch_add(1, Relaxed);
        *self.inner.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(message);
    }

    fn check(&self, result: Result<(), impl std::fmt::Display>) {
        if let Err(e) = result {
            self.reject(e.to_string());
        }
    }

    /// The timer name of spans from `metadata`'s callsite.
    fn metric_name(&self, metadata: &'static Metadata<'static>) -> Arc<str> {
        let id = metadata.callsite();
        if let Some(name) = self.inner.names.read().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Arc::clone(name);
        }
        let name: Arc<str> = self.inner.config.metric_name(metadata.target(), metadata.name()).into();
        self.inner
            .names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_insert(name)
            .clone()
    }

    fn record_span(&self, timing: &SpanTiming, now: Instant) {
        let time_tag = self.inner.config.time_tag.as_str();
        let mut busy = timing.busy;
        if let Some(entered) = timing.entered_at {
            // Closed while still entered (possible when a span is dropped on
            // another thread): count the open interval as busy.
            busy += now.saturating_duration_since(entered);
        }
        let total = now.saturating_duration_since(timing.created);
        let mut tags: Vec<(&str, &str)> = timing.tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        tags.push((time_tag, "busy"));
        let collector = &self.inner.collector;
        let exemplar = match (&self.inner.config.exemplar_field, &timing.exemplar) {
            (Some(field), Some(value)) => Some((field.as_str(), value.as_str())),
            _ => None,
        };
        let record = |tags: &[(&str, &str)], d: Duration| match exemplar {
            Some(pair) => collector
                .timer(&timing.metric, tags)
                .and_then(|t| t.record_with_exemplar(d, &[pair])),
            None => collector.record_duration(&timing.metric, tags, d).map_err(Into::into),
        };
        self.check(record(tags.as_slice(), busy));
        if let Some(last) = tags.last_mut() {
            last.1 = "total";
        }
        self.check(record(tags.as_slice(), total));
    }

    fn record_event_update(&self, metric: &str, update: &FieldUpdate, tags: &[(&str, &str)]) {
        let c = &self.inner.collector;
        let result = match update {
            FieldUpdate::Count(n) => c.increment_counter(metric, tags, *n),
            FieldUpdate::CountFraction(x) => c.record_metric(metric, *x, tags, MetricType::Counter),
            FieldUpdate::Gauge(x) => c.set_gauge(metric, tags, *x),
            FieldUpdate::Observe(x) => match c.get_metric_series(metric).map(|s| s.metric_type()) {
                // A histogram field of a name that is a timer records seconds into it.
                Some(MetricType::Timer) if x.is_finite() && *x >= 0.0 => {
                    c.record_duration(metric, tags, Duration::from_secs_f64(*x))
                }
                _ => c.observe_histogram(metric, tags, *x),
            },
            FieldUpdate::Invalid(message) => {
                return self.reject(message.clone());
            }
        };
        self.check(result);
    }
}

impl<S> Layer<S> for MetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.inner.config.record_spans {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut tags = FieldTags::new();
        if !self.inner.config.fields.is_empty() {
            attrs.record(&mut TagVisitor {
                config: &self.inner.config,
                tags: &mut tags,
            });
        }
        let mut exemplar = None;
        if let Some(name) = &self.inner.config.exemplar_field {
            attrs.record(&mut FieldValue {
                name,
                value: &mut exemplar,
            });
        }
        span.extensions_mut().insert(SpanTiming {
            metric: self.metric_name(attrs.metadata()),
            tags,
            created: Instant::now(),
            busy: Duration::ZERO,
            entered_at: None,
            depth: 0,
            exemplar,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.inner.config.fields.is_empty() && self.inner.config.exemplar_field.is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<SpanTiming>() {
            values.record(&mut TagVisitor {
                config: &self.inner.config,
                tags: &mut timing.tags,
            });
            if let Some(name) = &self.inner.config.exemplar_field {
                values.record(&mut FieldValue {
                    name,
                    value: &mut timing.exemplar,
                });
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<SpanTiming>() {
            if timing.depth == 0 {
                timing.entered_at = Some(Instant::now());
            }
            timing.depth += 1;
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<SpanTiming>() {
            timing.depth = timing.depth.saturating_sub(1);
            if timing.depth == 0
                && let Some(entered) = timing.entered_at.take()
            {
                timing.busy += entered.elapsed();
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let now = Instant::now();
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let timing = span.extensions_mut().remove::<SpanTiming>();
        if let Some(timing) = timing {
            self.record_span(&timing, now);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !self.inner.config.record_events {
            return;
        }
        let mut visitor = EventVisitor::new(&self.inner.config);
        event.record(&mut visitor);
        if visitor.updates.is_empty() {
            return;
        }
        let tags: Vec<(&str, &str)> = visitor.tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (metric, update) in &visitor.updates {
            self.record_event_update(metric, update, &tags);
        }
    }
}
