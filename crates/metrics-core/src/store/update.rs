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
//!
//! The hostile-input checks live here too, once for every caller: a NaN,
//! an infinite value or a negative duration is never admitted; a finite
//! value that would make the aggregate non-finite (a counter total, a
//! gauge after an add, a histogram or timer sum) is refused by the cell
//! and nothing is recorded; a counter that reaches `u64::MAX` saturates
//! there and the lost increment is counted in
//! [`saturated_updates`](MetricSeries::saturated_updates).

use crate::cell::counter::FastAddMiss;
use crate::cell::{Aggregate, Applied, CounterCell};
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
    /// A timer's duration in seconds: a value that must not be negative.
    Duration,
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

    /// Observe a duration of `seconds` in a timer (a negative one is
    /// rejected, like a NaN).
    #[inline(always)]
    pub(crate) const fn duration(seconds: f64) -> Self {
        Update {
            op: Op::Duration,
            bits: seconds.to_bits(),
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

    /// The value as given, for the error that names a refused update.
    pub(crate) fn given(self) -> f64 {
        match self.op {
            Op::Count => self.bits as f64,
            Op::Value | Op::GaugeAdd | Op::Duration => self.float(),
        }
    }

    #[inline(always)]
    fn float(self) -> f64 {
        f64::from_bits(self.bits)
    }

    /// Whether the value is admissible on its own: a finite number (a
    /// count always is), and not negative for a duration.
    #[inline(always)]
    fn is_admissible(self) -> bool {
        match self.op {
            Op::Count => true,
            Op::Duration => self.float().is_finite() && self.float() >= 0.0,
            Op::Value | Op::GaugeAdd => self.float().is_finite(),
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
pub(crate) fn admit(settings: &Settings, name: &str, ty: MetricType, update: Update) -> Result<bool, RecordError> {
    if !settings.enabled() {
        return Ok(false);
    }
    if update.op != Op::Count {
        validate_value(name, ty, update.float())?;
    }
    Ok(true)
}

/// What an admitted update did to a tag set's aggregate.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Applied (perhaps saturated); a kept sample carries this value (a
    /// gauge's new value after an add).
    Applied(f64),
    /// A count added to a counter; a kept sample carries the count. Apart
    /// from `Applied` so that the count becomes an `f64` only when a
    /// sample is kept.
    Counted,
    /// Refused by the cell: it would have made the aggregate non-finite.
    /// Nothing changed.
    Rejected,
    /// An update the aggregate cannot take (never built: handles and the
    /// collector pair each update with its series' type).
    Unsupported,
}

/// The value a kept sample carries, unless the cell refused the update.
#[inline(always)]
fn outcome(applied: Applied, kept: f64, series: &MetricSeries) -> Outcome {
    match applied {
        Applied::Exact => Outcome::Applied(kept),
        Applied::Saturated => {
            series.count_saturated();
            Outcome::Applied(kept)
        }
        Applied::Rejected => Outcome::Rejected,
    }
}

/// Applies `update` to `aggregate`, counting a saturated counter increment
/// in `series`.
#[inline(always)]
fn apply_to_aggregate(series: &MetricSeries, aggregate: &Aggregate, update: Update) -> Outcome {
    match (update.op, aggregate) {
        (Op::Count, Aggregate::Counter(c)) => {
            // As a counter handle: the uncontended add inline, the rest out of line.
            if let Err(miss) = c.try_add_uncontended(update.bits) {
                series.count_slow(c, update.bits, miss);
            }
            Outcome::Counted
        }
        (Op::GaugeAdd, Aggregate::Gauge(g)) => {
            if g.add(update.float()) {
                Outcome::Applied(g.get())
            } else {
                Outcome::Rejected
            }
        }
        (Op::Value | Op::Duration, aggregate) => outcome(aggregate.apply(update.float()), update.float(), series),
        (Op::Count | Op::GaugeAdd, _) => Outcome::Unsupported,
    }
}

impl MetricSeries {
    /// A handle's update: ignored when the series is disabled; a NaN or
    /// infinite value, a negative duration, or a value the aggregate
    /// refuses (it would become non-finite) is ignored and counted in
    /// [`rejected_values`](MetricSeries::rejected_values); else
    /// [`apply`](Self::apply) by the series' sample policy.
    ///
    /// The common case (enabled, aggregate only, a finite value) is one
    /// load and one compare before the aggregate update; the rest is out
    /// of line.
    #[inline(always)]
    pub(crate) fn update_from_handle(&self, entry: &TagEntry, update: Update) {
        let mode = self.mode();
        if mode == MODE_ENABLED && update.op == Op::Count {
            // A counter handle's increment (the most frequent update): the
            // uncontended add inline, every other case in one tail call.
            if let Aggregate::Counter(c) = entry.aggregate()
                && let Err(miss) = c.try_add_uncontended(update.bits)
            {
                self.count_slow(c, update.bits, miss);
            }
            return;
        }
        if mode == MODE_ENABLED
            && matches!(update.op, Op::Value | Op::Duration)
            && update.is_admissible()
            && let Aggregate::Histogram(h) = entry.aggregate()
        {
            // A histogram or timer observation: straight to the cell.
            return h.record_from_handle(update.float(), self.rejected_counter());
        }
        if mode == MODE_ENABLED && update.is_admissible() {
            if let Outcome::Rejected = apply_to_aggregate(self, entry.aggregate(), update) {
                self.count_rejected();
            }
            return;
        }
        self.update_from_handle_uncommon(mode, entry, update);
    }

    /// A counter handle's increment that the uncontended add did not make:
    /// into the cells, or saturating (and counted).
    #[cold]
    #[inline(never)]
    fn count_slow(&self, cell: &CounterCell, n: u64, miss: FastAddMiss) {
        if !cell.add_slow(n, miss) {
            self.count_saturated();
        }
    }

    /// `update_from_handle` on a disabled series, for a rejected value, or
    /// on a series that keeps every event.
    #[cold]
    #[inline(never)]
    fn update_from_handle_uncommon(&self, mode: u8, entry: &TagEntry, update: Update) {
        if mode & MODE_ENABLED == 0 {
            return;
        }
        if !update.is_admissible() {
            self.count_rejected();
            return;
        }
        let keep = if mode & MODE_EVERY_EVENT != 0 {
            Keep::Always
        } else {
            Keep::ByPolicy
        };
        if !self.apply(entry, update, keep) {
            self.count_rejected();
        }
    }

    /// A handle's update to the aggregate only, whatever the series' sample
    /// policy (`#[record_memory_usage(samples = false)]`, which keeps its
    /// own sample): the checks of
    /// [`update_from_handle`](Self::update_from_handle), no sample.
    pub(crate) fn update_aggregate_only(&self, entry: &TagEntry, update: Update) {
        if self.mode() & MODE_ENABLED == 0 {
            return;
        }
        if !update.is_admissible() {
            self.count_rejected();
            return;
        }
        if let Outcome::Rejected = apply_to_aggregate(self, entry.aggregate(), update) {
            self.count_rejected();
        }
    }

    /// The update rule: change the aggregate of `entry`, then keep a sample
    /// as `keep` says. The update has been admitted (enabled, finite,
    /// non-negative for a counter's `record_metric` and for a duration).
    /// False, with nothing recorded, when the aggregate refused the update
    /// because it would have become non-finite.
    #[inline(always)]
    pub(crate) fn apply(&self, entry: &TagEntry, update: Update, keep: Keep) -> bool {
        let value = match apply_to_aggregate(self, entry.aggregate(), update) {
            Outcome::Applied(value) => value,
            Outcome::Counted => {
                if let Keep::ByPolicy = keep
                    && !self.keeps_handle_samples()
                {
                    return true;
                }
                update.given()
            }
            Outcome::Rejected => return false,
            Outcome::Unsupported => return true,
        };
        match keep {
            Keep::ByPolicy if !self.keeps_handle_samples() => {}
            // Out of line: the by-name updates (`increment_counter`, ...)
            // inline this rule, and rarely keep a sample.
            Keep::ByPolicy => self.keep_sample_by_policy(entry.id(), value),
            Keep::Always => self.keep_sample(entry.id(), value, None),
            Keep::At(ts) => self.keep_sample_at(entry.id(), value, ts),
        }
        true
    }

    /// [`keep_sample`](Self::keep_sample) for a series whose policy keeps
    /// every event, out of line.
    #[inline(never)]
    fn keep_sample_by_policy(&self, id: u32, value: f64) {
        self.keep_sample(id, value, None);
    }

    /// [`keep_sample`](Self::keep_sample) at an explicit time, out of line.
    #[inline(never)]
    fn keep_sample_at(&self, id: u32, value: f64, at: i64) {
        self.keep_sample(id, value, Some(at));
    }

    /// Keeps one sample of tag set `id`, stamped `at` or now. Every kept
    /// sample passes here, once, after its aggregate was updated: a
    /// consumer of every kept sample (a durable store's writer) hooks in
    /// here.
    #[inline(always)]
    pub(crate) fn keep_sample(&self, id: u32, value: f64, at: Option<i64>) {
        let (ts, cutoff, stamped) = match at {
            // One clock read serves as timestamp and as the retention cutoff.
            None => {
                let (now, stamped) = self.settings().stamp();
                (now, now.saturating_sub(self.settings().retention_nanos()), stamped)
            }
            // An explicit timestamp may be old: expire relative to now.
            Some(ts) => (ts, self.settings().retention_cutoff(), false),
        };
        self.push_sample(Sample { ts, value, tags: id }, cutoff, stamped);
    }
}
