//! Telling the program that a series hit its cardinality cap: a warning on
//! the `log` facade (target `metrics_core::overflow`), or a hook the
//! program sets instead, once per series when its first update folds into
//! `overflow="true"`, then at most once per [`OVERFLOW_REPORT_INTERVAL`]
//! while updates keep folding. The library never prints: a program without
//! a logger hears nothing but the self-metric.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The shortest time between two reports for one series.
pub const OVERFLOW_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// What a report says: which series folds updates into its overflow set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverflowEvent<'a> {
    /// The metric name.
    pub metric: &'a str,
    /// The cap it reached (`max_tag_sets_per_series`).
    pub max_tag_sets: usize,
    /// Updates folded into the overflow set so far, this one included.
    pub overflow_updates: u64,
}

impl fmt::Display for OverflowEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metric `{}` reached max_tag_sets_per_series ({}); new tag sets are folded into overflow=\"true\" ({} updates so far)",
            self.metric, self.max_tag_sets, self.overflow_updates
        )
    }
}

/// A program's overflow callback.
pub type OverflowHook = Arc<dyn Fn(&OverflowEvent<'_>) + Send + Sync>;

/// The `log` target of the warning a series at its cap logs when no hook
/// is set.
pub const OVERFLOW_LOG_TARGET: &str = "metrics_core::overflow";

/// The collector's hook, if the program set one.
#[derive(Default)]
pub(crate) struct HookSlot(RwLock<Option<OverflowHook>>);

impl fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.0.read().unwrap_or_else(PoisonError::into_inner).is_some();
        f.debug_tuple("HookSlot")
            .field(&if set { "set" } else { "unset" })
            .finish()
    }
}

impl HookSlot {
    pub(crate) fn set(&self, hook: Option<OverflowHook>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    fn get(&self) -> Option<OverflowHook> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Per series: when it last reported (`i64::MIN`: never).
#[derive(Debug)]
pub(crate) struct OverflowReporter {
    last: AtomicI64,
}

impl Default for OverflowReporter {
    fn default() -> Self {
        OverflowReporter {
            last: AtomicI64::new(i64::MIN),
        }
    }
}

impl OverflowReporter {
    /// Calls the hook, or logs the event when there is none, if this series
    /// has not reported within the interval.
    /// Called with no lock of the series held, so the hook may record.
    #[cold]
    pub(crate) fn report(&self, slot: &HookSlot, now: i64, event: &OverflowEvent<'_>) {
        let last = self.last.load(Relaxed);
        let interval = i64::try_from(OVERFLOW_REPORT_INTERVAL.as_nanos()).unwrap_or(i64::MAX);
        if last != i64::MIN && now.saturating_sub(last) < interval {
            return;
        }
        // One reporter per interval, even when threads overflow at once.
        if self.last.compare_exchange(last, now, Relaxed, Relaxed).is_err() {
            return;
        }
        match slot.get() {
            Some(hook) => hook(event),
            None => log::warn!(target: OVERFLOW_LOG_TARGET, "{event}"),
        }
    }
}
