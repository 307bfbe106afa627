//! By-name updates that carry an exemplar: the by-name counterparts of
//! [`Counter::increment_with_exemplar`](crate::Counter::increment_with_exemplar),
//! [`Histogram::record_with_exemplar`](crate::Histogram::record_with_exemplar)
//! and [`Timer::record_with_exemplar`](crate::Timer::record_with_exemplar),
//! and the restoring of exported exemplars by `import_json`.
//!
//! The update itself goes through the one update rule (`store::update`:
//! `admit`, then `MetricSeries::apply`), as `increment_counter` and the
//! other by-name calls do. Unlike the handle methods, a by-name call checks
//! the exemplar first: a call that returns an error has recorded nothing.

use super::*;
use crate::snapshot::exemplar::BucketExemplar;
use crate::store::series::exemplars::validate;

impl MetricsCollector {
    /// Adds `n` to the counter (`name`, `tags`), creating it when new, and
    /// keeps `exemplar` (e.g. `[("trace_id", id)]`) as that tag set's
    /// exemplar, replacing the previous one (latest wins). OpenMetrics text
    /// writes it after the `_total` line; the Prometheus 0.0.4 format leaves
    /// it out. Samples follow the series' [`SamplePolicy`], as
    /// [`increment_counter`](Self::increment_counter).
    ///
    /// ```
    /// use metrics_core::MetricsCollector;
    /// use metrics_core::export::prometheus::{encode, TextFormat};
    /// let c = MetricsCollector::default();
    /// c.increment_counter_with_exemplar("jobs_failed", &[("queue", "a")], 1, &[("job_id", "j-7")])?;
    /// let text = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    /// assert!(text.contains("jobs_failed_total{queue=\"a\"} 1.0 # {job_id=\"j-7\"} 1.0 "));
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar) naming the metric and the labels
    /// when a label name is not `[a-zA-Z_][a-zA-Z0-9_]*` or the labels pass
    /// 128 characters; else the errors of
    /// [`increment_counter`](Self::increment_counter). Nothing is recorded
    /// then.
    pub fn increment_counter_with_exemplar(
        &self,
        name: &str,
        tags: impl Tags,
        n: u64,
        exemplar: &[(&str, &str)],
    ) -> Result<()> {
        self.update_with_exemplar(name, &tags, MetricType::Counter, Update::count(n), n as f64, exemplar)
    }

    /// Observes `value` in the histogram (`name`, `tags`), creating it when
    /// new, and keeps `exemplar` as the exemplar of the bucket `value` falls
    /// in (latest wins), as
    /// [`Histogram::record_with_exemplar`](crate::Histogram::record_with_exemplar).
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar) for labels that cannot be exposed,
    /// [`MetricsError::NonFiniteValue`](crate::MetricsError::NonFiniteValue) naming a NaN or infinite value, and
    /// the other errors of [`observe_histogram`](Self::observe_histogram).
    /// Nothing is recorded then.
    pub fn observe_histogram_with_exemplar(
        &self,
        name: &str,
        tags: impl Tags,
        value: f64,
        exemplar: &[(&str, &str)],
    ) -> Result<()> {
        self.update_with_exemplar(
            name,
            &tags,
            MetricType::Histogram,
            Update::value(value),
            value,
            exemplar,
        )
    }

    /// Records `duration` in the timer (`name`, `tags`), creating it when
    /// new, and keeps `exemplar` as the exemplar of its bucket (in seconds),
    /// as [`Timer::record_with_exemplar`](crate::Timer::record_with_exemplar).
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar) for labels that cannot be exposed,
    /// and the errors of [`record_duration`](Self::record_duration). Nothing
    /// is recorded then.
    pub fn record_duration_with_exemplar(
        &self,
        name: &str,
        tags: impl Tags,
        duration: Duration,
        exemplar: &[(&str, &str)],
    ) -> Result<()> {
        let seconds = duration.as_secs_f64();
        self.update_with_exemplar(
            name,
            &tags,
            MetricType::Timer,
            Update::duration(seconds),
            seconds,
            exemplar,
        )
    }

    /// The update is admitted and the exemplar checked before anything
    /// changes; then the update rule applies the update; the exemplar is kept only if the
    /// aggregate took the update.
    fn update_with_exemplar(
        &self,
        name: &str,
        tags: &impl Tags,
        ty: MetricType,
        update: Update,
        value: f64,
        exemplar: &[(&str, &str)],
    ) -> Result<()> {
        // First the value (a NaN is named as such), then the labels.
        if !admit(&self.settings, name, ty, update)? {
            return Ok(());
        }
        let labels = validate(name, exemplar, value)?;
        let mut labels = Some(labels);
        let applied = self.resolve(name, tags, ty, |series, entry| {
            let applied = series.apply(entry, update, Keep::ByPolicy);
            if let (true, Some(labels)) = (applied, labels.take()) {
                series.put_exemplar(entry.id(), value, labels);
            }
            applied
        })?;
        if !applied {
            return Err(aggregate_overflow(name, update).into());
        }
        Ok(())
    }

    /// Copies every exemplar of `snapshot` into this collector, tag set by
    /// tag set (creating a tag set that is new, without updating its
    /// aggregate); an exemplar this collector holds for the same bucket is
    /// kept when it is newer. For a collector rebuilt from somewhere that
    /// keeps no exemplars (the durable store), given the snapshot of the
    /// process that recorded them.
    ///
    /// # Errors
    /// As [`import_json`](Self::import_json) for exemplars: the first one
    /// that cannot be exposed, named, and the lookup errors of a by-name
    /// call (a series of another type under the same name).
    pub fn merge_exemplars(&self, snapshot: &crate::Snapshot) -> Result<()> {
        for series in &snapshot.series {
            for agg in &series.aggregates {
                self.restore_exemplars(&series.name, &agg.tags, series.metric_type, &agg.exemplars)?;
            }
        }
        Ok(())
    }

    /// Puts back the exemplars an export listed for the tag set (`name`,
    /// `tags`) of a series of type `ty`, creating the tag set when new
    /// (without updating its aggregate). Used by
    /// [`import_json`](Self::import_json).
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar) naming the series and the labels of
    /// the first exemplar that cannot be exposed (the ones before it are
    /// kept), and the lookup errors of a by-name call.
    pub(crate) fn restore_exemplars(
        &self,
        name: &str,
        tags: impl Tags,
        ty: MetricType,
        exemplars: &[BucketExemplar],
    ) -> Result<()> {
        if exemplars.is_empty() {
            return Ok(());
        }
        self.resolve(name, &tags, ty, |series, entry| {
            exemplars
                .iter()
                .try_for_each(|e| series.restore_exemplar(entry.id(), &e.exemplar))
        })?
    }
}
