//! What a counter capped at three tag sets holds after ten label sets were
//! each updated twice (`#[path]`-included by the family tests).

use metrics_core::{AggregateValue, MetricsCollector};

/// Series `name` holds three regular tag sets and the overflow set; the 14
/// updates of the other seven label sets are in the overflow set and
/// counted; `first` (one of the three kept) has both its updates.
pub(crate) fn assert_capped_at_three(c: &MetricsCollector, name: &str, first: &[(&str, &str)]) {
    let s = c.get_metric_series(name).unwrap();
    assert_eq!(s.tag_sets().len(), 4, "3 regular sets + overflow");
    assert_eq!(
        s.aggregate(&[("overflow", "true")]),
        Some(AggregateValue::Counter { total: 14.0 })
    );
    assert_eq!(s.overflow_updates(), 14);
    assert_eq!(s.aggregate(first), Some(AggregateValue::Counter { total: 2.0 }));
}
