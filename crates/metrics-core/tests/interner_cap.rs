//! The interner stops at `MAX_INTERNED` texts with an error naming the
//! refused text, and keeps serving what it holds. (Its own test binary: it
//! fills the process's interner.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::family::MAX_INTERNED;
use metrics_core::{InternError, Interned, MetricsCollector};

#[derive(metrics_core::LabelSet)]
struct Queue {
    queue: Interned,
}

#[test]
fn a_full_interner_refuses_new_texts_naming_them_and_keeps_the_old_ones() {
    let first = Interned::new("queue-0").unwrap();
    for i in 1..MAX_INTERNED {
        Interned::new(&format!("queue-{i}")).unwrap();
    }
    let err = Interned::new("one-too-many").unwrap_err();
    assert_eq!(
        err,
        InternError::Full {
            text: "one-too-many".to_owned()
        }
    );
    assert!(err.to_string().contains("\"one-too-many\""), "{err}");
    assert!(err.to_string().contains(&MAX_INTERNED.to_string()), "{err}");
    assert_eq!(Interned::get("one-too-many"), None);

    // What was interned is still found, by text and by value.
    assert_eq!(Interned::new("queue-0").unwrap(), first);
    let last = format!("queue-{}", MAX_INTERNED - 1);
    assert_eq!(Interned::get(&last).unwrap().as_str(), last);
    let c = MetricsCollector::default();
    let f = c.counter_family::<Queue>("jobs").unwrap();
    f.increment(&Queue { queue: first }, 1).unwrap();
    assert!(
        c.get_metric_series("jobs")
            .unwrap()
            .aggregate(&[("queue", "queue-0")])
            .is_some()
    );
}
