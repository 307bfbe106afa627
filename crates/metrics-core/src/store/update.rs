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
use crate::store::settings::Settings;
use crate::store::validate::validate_value;
use crate::tags::entry::TagEntry;

/// One update, as the caller gave it.
///
/// An operation and 8 bytes of payload (a count, or an `f64`'s bits): two
/// scalars, so the update travels in registers into the out-of-line paths.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Update {
    op: Op,
    bits: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Add a whole number to a counter (counter handles, `increment_counter`).
    Count,
    /// A value: added to a counter (`record_metric`, fractions allowed), set
    /// on a gauge, observed by a histogram or timer.
    Value,
    /// Add to (or, negative, subtract from) a gauge (`Gauge::increment`).
    GaugeAdd,
}

impl Update {
    /// Add `n` to a counter.
    #[inline(always)]
    pub(crate) const fn count(n: u64) -> Self {
        Update { op: Op::Count, bits: n }
    }

    /// Set a gauge to `v`, observe `v` in a histogram or timer, or (from
    /// `record_metric`) add `v` to a counter.
    #[inline(always)]
    pub(crate) const fn value(v: f64) -> Self {
        Update {
            op: Op::Value,
            bits: v.to_bits(),
        }
    }

    /// Add `v` to a gauge.
    #[inline(always)]
    pub(crate) const fn gauge_add(v: f64) -> Self {
        Update {
            op: Op::GaugeAdd,
            bits: v.to_bits(),
        }
    }

    #[inline(always)]
    fn float(self) -> f64 {
        f64::from_bits(self.bits)
    }

    /// Whether the value is a finite number (a count always is).
    #[inline(always)]
    fn is_finite(self) -> bool {
        self.op == Op::Count || self.float().is_finite()
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
pub(crate) fn admit(settings: &Settings, name: &str, ty: MetricType, update: Update) -> Result<bool, RecordError> {
    if !settings.enabled() {
        return Ok(false);
    }
    if update.op != Op::Count {
        validate_value(name, ty, update.float())?;
    }
    Ok(true)
}

/// Applies `update` to `aggregate`; returns the value a kept sample
/// carries (a gauge's new value after an add), or `None` for an update the
/// aggregate cannot take (never built: handles and the collector pair each
/// update with its series' type).
#[inline(always)]
fn apply_to_aggregate(aggregate: &Aggregate, update: Update) -> Option<f64> {
    match (update.op, aggregate) {
        (Op::Count, Aggregate::Counter(c)) => {
            c.add(update.bits);
            Some(update.bits as f64)
        }
        (Op::GaugeAdd, Aggregate::Gauge(g)) => {
            g.add(update.float());
            Some(g.get())
        }
        (Op::Value, aggregate) => {
            aggregate.apply(update.float());
            Some(update.float())
        }
        (Op::Count | Op::GaugeAdd, _) => None,
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
    #[inline(always)]
    pub(crate) fn keep_sample(&self, id: u32, value: f64, at: Option<i64>) {
        let (ts, cutoff) = match at {
            // One clock read serves as timestamp and as the retention cutoff.
            None => {
                let now = self.settings().now_nanos();
                (now, now.saturating_sub(self.settings().retention_nanos()))
            }
            // An explicit timestamp may be old: expire relative to now.
            Some(ts) => (ts, self.settings().retention_cutoff()),
        };
        self.push_sample(Sample { ts, value, tags: id }, cutoff);
    }
}
