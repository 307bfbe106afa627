//! Removing what a collector holds: whole series, one tag set, every tag
//! set idle for longer than `idle_timeout`, and the generation that tells
//! caches something was removed.

use super::*;

impl MetricsCollector {
    /// Removes the series `name` and returns it. Handles to it keep working
    /// but update a detached series that no export sees.
    pub fn remove_series(&self, name: &str) -> Option<Arc<MetricSeries>> {
        let removed = self.series.remove(name).map(|(s, ())| s.0);
        if removed.is_some() && name != REJECTED_SERIES_METRIC {
            self.series_count.fetch_sub(1, SeqCst);
        }
        self.generation.fetch_add(1, SeqCst);
        removed
    }

    /// Removes every series.
    pub fn clear_all(&self) {
        let mut removed = 0;
        self.series.retain(|series, ()| {
            removed += usize::from(series.0.name() != REJECTED_SERIES_METRIC);
            false
        });
        self.series_count.fetch_sub(removed, SeqCst);
        self.generation.fetch_add(1, SeqCst);
    }

    /// Removes one tag set of the series `name` (tags in any order) from the
    /// exposition and from memory; its retained samples stay until
    /// retention drops them. The next update of those tags starts a new tag
    /// set: a counter restarts from 0 (a counter reset to Prometheus).
    /// Handles resolved before keep working but update a detached aggregate
    /// that no export sees, never another tag set; re-resolve them when
    /// [`generation`](Self::generation) changes. False when there is no
    /// such series or tag set (the `overflow="true"` set cannot be removed).
    ///
    /// ```
    /// use metrics_core::MetricsCollector;
    /// let c = MetricsCollector::default();
    /// c.increment_counter("jobs", &[("queue", "a")], 3)?;
    /// assert!(c.remove("jobs", &[("queue", "a")]));
    /// assert!(!c.remove("jobs", &[("queue", "a")]));
    /// c.increment_counter("jobs", &[("queue", "a")], 1)?;
    /// let s = c.get_metric_series("jobs").unwrap();
    /// assert_eq!(s.aggregate(&[("queue", "a")]), Some(metrics_core::AggregateValue::Counter { total: 1.0 }));
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn remove(&self, name: &str, tags: impl Tags) -> bool {
        let Some(series) = self.get_metric_series(name) else {
            return false;
        };
        let removed = series.remove_tag_set(&tags);
        if removed {
            self.generation.fetch_add(1, SeqCst);
        }
        removed
    }

    /// A number that changes whenever series or tag sets are removed
    /// ([`remove_series`](Self::remove_series), [`remove`](Self::remove),
    /// [`clear_all`](Self::clear_all), idle expiry). A cache of handles
    /// compares it to the value it saw and drops its handles when it differs.
    pub fn generation(&self) -> u64 {
        self.generation.load(SeqCst)
    }

    /// Removes every tag set whose aggregate has not changed for the
    /// configured `idle_timeout` (see [`MetricsConfig::idle_timeout`]);
    /// returns how many. A no-op when no timeout is set. Runs at every
    /// snapshot, so exposition and exports never show an idle tag set.
    pub fn expire_idle(&self) -> usize {
        let Some(timeout) = self.settings.idle_timeout_nanos() else {
            return 0;
        };
        let now = self.settings.now_nanos();
        let removed: usize = self.all_series().iter().map(|s| s.expire_idle(now, timeout)).sum();
        if removed > 0 {
            self.generation.fetch_add(1, SeqCst);
        }
        removed
    }
}
