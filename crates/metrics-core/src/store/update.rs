//! The update rule, in one place: whether an update is admitted, how it
//! changes a tag set's aggregate, and whether it is kept as a sample.
//!
//! Every way of recording ends here:
//! * handles ([`Counter`](crate::Counter) and the others) call
//!   [`MetricSeries::update_from_handle`];
//! * the by-name calls (`increment_counter`, `set_gauge`,
//!   `observe_histogram`, `record_duration`) and `record_metric` call
//!   [`admit`] before their lookup, then [`MetricSeries::apply`].
//!
//! [`MetricSeries::apply`] is the rule itself; [`MetricSeries::keep_sample`]
//! is the one place where a sample is kept (the hand-off point for anything
//! that wants every kept sample, such as a durable store).

use crate::cell::Aggregate;
use crate::error::RecordError;
use crate::kind::MetricType;
use crate::store::ring::Sample;
use crate::store::series::{MODE_ENABLED, MODE_EVERY_EVENT, MetricSeries};
use crate::store::settings::Shared;
use crate::store::validate::validate_value;
use crate::tags::entry::TagEntry;

/// One update, as the caller gave it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Update {
    /// Add a whole number to a counter (counter handles, `increment_counter`).
    Count(u64),
    /// A value: added to a counter (`record_metric`, fractions allowed), set
    /// on a gauge, observed by a histogram or timer.
    Value(f64),
    /// Add to (or, negative, subtract from) a gauge (`Gauge::increment`).
    GaugeAdd(f64),
}

impl Update {
    /// Whether the value is a finite number (a count always is).
    #[inline(always)]
    fn is_finite(self) -> bool {
        match self {
            Update::Count(_) => true,
            Update::Value(v) | Update::GaugeAdd(v) => v.is_finite(),
        }
    }
}

/// When an applied update is kept as a timestamped sample.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep {
    /// When the series' [`SamplePolicy`](crate::SamplePolicy) is
    /// `EveryEvent` (handles and by-name calls).
    ByPolicy,
    /// Always, stamped now (`record_metric`).
    Always,
    /// Always, with this timestamp in ns since the epoch (`record_metric_at`).
    At(i64),
}

/// The check of a by-name call or `record_metric`, before any lookup:
/// `Ok(false)` when the collector is disabled (the call records nothing and
/// succeeds), an error naming the metric for a NaN, an infinite value or a
/// negative counter increment, else `Ok(true)`. A rejected call creates
/// nothing.
#[inline(always)]
pub(crate) fn admit(shared: &Shared, name: &str, ty: MetricType, update: Update) -> Result<bool, RecordError> {
    if !shared.enabled() {
        return Ok(false);
    }
    match update {
        Update::Count(_) => {}
        Update::Value(v) | Update::GaugeAdd(v) => validate_value(name, ty, v)?,
    }
    Ok(true)
}

/// Applies `update` to `aggregate`; returns the value a kept sample
/// carries (a gauge's new value after an add), or `None` for an update the
/// aggregate cannot take (never built: handles and the collector pair each
/// update with its series' type).
#[inline(always)]
fn apply_to_aggregate(aggregate: &Aggregate, update: Update) -> Option<f64> {
    match (update, aggregate) {
        (Update::Count(n), Aggregate::Counter(c)) => {
            c.add(n);
            Some(n as f64)
        }
        (Update::GaugeAdd(v), Aggregate::Gauge(g)) => {
            g.add(v);
            Some(g.get())
        }
        (Update::Value(v), aggregate) => {
            aggregate.apply(v);
            Some(v)
        }
        (Update::Count(_) | Update::GaugeAdd(_), _) => None,
    }
}

impl MetricSeries {
    /// A handle's update: ignored when the series is disabled; a NaN or
    /// infinite value is ignored and counted in
    /// [`rejected_values`](MetricSeries::rejected_values); else
    /// [`apply`](Self::apply) by the series' sample policy.
    ///
    /// The common case (enabled, aggregate only, a finite value) is one
    /// load and one compare before the aggregate update; the rest is out
    /// of line.
    #[inline(always)]
    pub(crate) fn update_from_handle(&self, entry: &TagEntry, update: Update) {
        let mode = self.mode();
        if mode == MODE_ENABLED && update.is_finite() {
            apply_to_aggregate(entry.aggregate(), update);
            return;
        }
        self.update_from_handle_uncommon(mode, entry, update);
    }

    /// `update_from_handle` on a disabled series, for a rejected value, or
    /// on a series that keeps every event.
    #[cold]
    #[inline(never)]
    fn update_from_handle_uncommon(&self, mode: u8, entry: &TagEntry, update: Update) {
        if mode & MODE_ENABLED == 0 {
            return;
        }
        if !update.is_finite() {
            self.count_rejected();
            return;
        }
        let keep = if mode & MODE_EVERY_EVENT != 0 {
            Keep::Always
        } else {
            Keep::ByPolicy
        };
        self.apply(entry, update, keep);
    }

    /// The update rule: change the aggregate of `entry`, then keep a sample
    /// as `keep` says. The update has been admitted (enabled, finite,
    /// non-negative for a counter's `record_metric`).
    #[inline(always)]
    pub(crate) fn apply(&self, entry: &TagEntry, update: Update, keep: Keep) {
        let Some(value) = apply_to_aggregate(entry.aggregate(), update) else {
            return;
        };
        match keep {
            Keep::ByPolicy if !self.keeps_handle_samples() => {}
            Keep::ByPolicy | Keep::Always => self.keep_sample(entry.id(), value, None),
            Keep::At(ts) => self.keep_sample(entry.id(), value, Some(ts)),
        }
    }

    /// Keeps one sample of tag set `id`, stamped `at` or now. Every kept
    /// sample passes here, once, after its aggregate was updated: a
    /// consumer of every kept sample (a durable store's writer) hooks in
    /// here.
    #[inline]
    pub(crate) fn keep_sample(&self, id: u32, value: f64, at: Option<i64>) {
        let (ts, cutoff) = match at {
            // One clock read serves as timestamp and as the retention cutoff.
            None => {
                let now = self.shared().now_nanos();
                (now, now.saturating_sub(self.shared().retention_nanos()))
            }
            // An explicit timestamp may be old: expire relative to now.
            Some(ts) => (ts, self.shared().retention_cutoff()),
        };
        self.push_sample(Sample { ts, value, tags: id }, cutoff);
    }
}
