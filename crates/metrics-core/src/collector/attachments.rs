//! What a program attaches to a collector: a sink for every kept sample
//! (a durable store) and a hook told when a series overflows its tag-set cap.

use super::*;

impl MetricsCollector {
    fn sink_slot(&self) -> &SinkSlot {
        self.settings.sink()
    }

    /// Sends every sample this collector keeps from now on to `sink` as
    /// well; returns the sink it replaces.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    /// use metrics_core::{MetricsCollector, MetricType, SampleSink, SeriesKey};
    ///
    /// #[derive(Debug, Default)]
    /// struct Count(AtomicU64);
    /// impl SampleSink for Count {
    ///     fn accept(&self, _: SeriesKey, _: u32, _: i64, _: f64) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let c = MetricsCollector::default();
    /// let sink = Arc::new(Count::default());
    /// c.attach_sink(sink.clone());
    /// c.record_metric("m", 1.0, &[], MetricType::Gauge)?;
    /// c.detach_sink();
    /// c.record_metric("m", 2.0, &[], MetricType::Gauge)?;
    /// assert_eq!(sink.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn attach_sink(&self, sink: Arc<dyn SampleSink>) -> Option<Arc<dyn SampleSink>> {
        self.sink_slot().replace(Some(sink))
    }

    /// Stops offering samples to the attached sink and returns it. A sample
    /// being recorded by another thread at this moment may still reach it;
    /// threads keep their copy of it until their next kept sample.
    pub fn detach_sink(&self) -> Option<Arc<dyn SampleSink>> {
        self.sink_slot().replace(None)
    }

    /// Whether a sink is attached.
    pub fn has_sink(&self) -> bool {
        self.sink_slot().is_active()
    }

    /// Sets the callback told when a series reaches
    /// `max_tag_sets_per_series` and starts folding new tag sets into
    /// `overflow="true"`: once per series at the first such update, then at
    /// most once per [`OVERFLOW_REPORT_INTERVAL`](crate::OVERFLOW_REPORT_INTERVAL)
    /// while updates keep folding. Without a hook the event is a warning on
    /// the `log` facade, target
    /// [`OVERFLOW_LOG_TARGET`](crate::OVERFLOW_LOG_TARGET); a hook replaces
    /// that warning. It runs on the recording thread with no lock of the
    /// series held, so it may record metrics itself.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use metrics_core::{MetricsCollector, MetricsConfig};
    /// let c = MetricsCollector::new(MetricsConfig { max_tag_sets_per_series: 1, ..MetricsConfig::default() });
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// c.set_overflow_hook(move |e| log.lock().unwrap().push(e.to_string()));
    /// for user in ["a", "b", "c"] {
    ///     c.increment_counter("logins", &[("user", user)], 1)?;
    /// }
    /// assert_eq!(seen.lock().unwrap().len(), 1); // once, not per update
    /// assert!(seen.lock().unwrap()[0].contains("`logins`"));
    /// # Ok::<(), metrics_core::RecordError>(())
    /// ```
    pub fn set_overflow_hook(&self, hook: impl Fn(&OverflowEvent<'_>) + Send + Sync + 'static) {
        self.settings.overflow_hook.set(Some(Arc::new(hook)));
    }

    /// Removes the overflow callback: reports go to the `log` facade again.
    /// (For silence, set a hook that does nothing.)
    pub fn clear_overflow_hook(&self) {
        self.settings.overflow_hook.set(None);
    }
}
