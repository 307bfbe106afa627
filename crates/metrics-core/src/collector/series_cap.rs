//! The `max_series` cap: how many distinct metric names a collector holds
//! (`MetricsConfig::max_series`, `METRICS_MAX_SERIES`). A new name past it is
//! refused with `RecordErrorKind::TooManySeries` and counted in
//! [`REJECTED_SERIES_METRIC`]; existing series keep recording.

use std::sync::atomic::Ordering::SeqCst;

use super::MetricsCollector;
use crate::error::{RecordError, RecordErrorKind};

/// The counter in which a collector counts new metric names it refused
/// because it held `max_series` series already (exported like any series).
pub const REJECTED_SERIES_METRIC: &str = "metrics.rejected_series";

impl MetricsCollector {
    /// Takes one of the `max_series` slots for a new series named `name`;
    /// false when they are all taken. The collector's own
    /// [`REJECTED_SERIES_METRIC`] takes none, so that rejections can be
    /// counted at the cap without costing a slot.
    pub(super) fn reserve_series_slot(&self, name: &str) -> bool {
        if name == REJECTED_SERIES_METRIC {
            return true;
        }
        let max = self.settings.max_series();
        self.series_count
            .fetch_update(SeqCst, SeqCst, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    /// Counts a new name refused by the cap and returns the error naming it.
    #[cold]
    pub(super) fn reject_series(&self, name: &str) -> RecordError {
        let _ = self.increment_counter(REJECTED_SERIES_METRIC, &[], 1);
        RecordError::from(RecordErrorKind::TooManySeries {
            name: name.chars().take(64).collect(),
            max: self.settings.max_series(),
        })
    }
}
