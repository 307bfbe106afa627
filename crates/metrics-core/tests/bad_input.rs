//! Every bad input gets the right `MetricsError`, a message naming the bad
//! value, and records nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::{
    MAX_NAME_LEN, MetricOptions, MetricType, MetricsCollector, MetricsConfig, MetricsError, SeriesSnapshot,
};

fn collector() -> MetricsCollector {
    MetricsCollector::new(MetricsConfig::default())
}

/// The state of series `name`, or `None` when it does not exist.
fn state(c: &MetricsCollector, name: &str) -> Option<SeriesSnapshot> {
    c.snapshot().series(name).cloned()
}

/// Runs `bad` against a fresh collector (the series must stay absent) and
/// against one where `name` already holds a sample (it must stay unchanged).
/// Returns the error from the fresh collector.
/// Record calls return a `RecordError`, handle constructors a `MetricsError`:
/// both are checked as the `MetricsError` a caller's `?` produces.
fn rejected<E: Into<MetricsError>>(
    name: &str,
    ty: MetricType,
    bad: impl Fn(&MetricsCollector) -> Result<(), E>,
) -> MetricsError {
    let bad = |c: &MetricsCollector| bad(c).map_err(Into::into);
    let fresh = collector();
    let err = bad(&fresh).expect_err("bad input must be rejected");
    assert!(
        fresh.list_series().is_empty(),
        "{name:?}: a rejected call created {:?}",
        fresh.list_series()
    );

    let used = collector();
    if metrics_core::validate_name(name).is_ok() {
        used.record_metric(name, 1.0, &[("k", "v")], ty).unwrap();
    }
    let before = used.snapshot();
    let err_again = bad(&used).expect_err("bad input must be rejected");
    assert_eq!(err.to_string(), err_again.to_string());
    let after = used.snapshot();
    assert_eq!(
        before.series, after.series,
        "{name:?}: a rejected call changed the store"
    );
    err
}

fn assert_names(err: &MetricsError, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(msg.contains(part), "message {msg:?} does not name {part:?}");
    }
}

#[test]
fn an_empty_name_is_rejected() {
    let err = rejected("", MetricType::Counter, |c| {
        c.record_metric("", 1.0, &[], MetricType::Counter)
    });
    assert!(matches!(err, MetricsError::EmptyName), "{err:?}");
    assert_names(&err, &["empty"]);
}

#[test]
fn a_name_over_255_bytes_is_rejected_with_its_length() {
    let name = format!("job_{}", "x".repeat(MAX_NAME_LEN - 3));
    assert_eq!(name.len(), MAX_NAME_LEN + 1);
    let err = rejected(&name, MetricType::Gauge, |c| {
        c.record_metric(&name, 1.0, &[], MetricType::Gauge)
    });
    assert!(
        matches!(err, MetricsError::NameTooLong { len: 256, max: 255, .. }),
        "{err:?}"
    );
    assert_names(&err, &["job_xxxx", "256", "255"]);
    // Multi-byte characters count in bytes.
    let wide = "é".repeat(128);
    let err = rejected(&wide, MetricType::Gauge, |c| {
        c.record_metric(&wide, 1.0, &[], MetricType::Gauge)
    });
    assert!(matches!(err, MetricsError::NameTooLong { len: 256, .. }), "{err:?}");
    // Exactly 255 bytes is fine.
    collector()
        .record_metric(&"x".repeat(MAX_NAME_LEN), 1.0, &[], MetricType::Gauge)
        .unwrap();
}

#[test]
fn control_characters_in_names_are_rejected() {
    for name in ["a\nb", "tab\there", "nul\0", "\u{7f}del", "esc\u{1b}[31m", "c1\u{85}"] {
        let err = rejected(name, MetricType::Gauge, |c| {
            c.record_metric(name, 1.0, &[], MetricType::Gauge)
        });
        assert!(matches!(err, MetricsError::NameControlChar { .. }), "{name:?}: {err:?}");
        assert_names(&err, &[&format!("{name:?}")]);
    }
}

#[test]
fn non_finite_values_are_rejected_for_every_type() {
    for ty in MetricType::ALL {
        for (value, shown) in [(f64::NAN, "NaN"), (f64::INFINITY, "inf"), (f64::NEG_INFINITY, "-inf")] {
            let err = rejected("m", ty, |c| c.record_metric("m", value, &[("k", "v")], ty));
            assert!(
                matches!(err, MetricsError::NonFiniteValue { .. }),
                "{ty} {value}: {err:?}"
            );
            assert_names(&err, &["\"m\"", shown]);
        }
    }
}

#[test]
fn negative_counter_increments_are_rejected() {
    for value in [-1.0, -0.5, -1e300, -f64::MIN_POSITIVE] {
        let err = rejected("jobs", MetricType::Counter, |c| {
            c.record_metric("jobs", value, &[("k", "v")], MetricType::Counter)
        });
        assert!(
            matches!(err, MetricsError::NegativeCounterIncrement { value: v, .. } if v == value),
            "{err:?}"
        );
        assert_names(&err, &["\"jobs\"", &value.to_string()]);
    }
    // Zero is a valid (if useless) increment.
    collector()
        .record_metric("jobs", 0.0, &[], MetricType::Counter)
        .unwrap();
}

#[test]
fn a_type_other_than_the_series_type_is_rejected() {
    let c = collector();
    c.record_metric("jobs", 1.0, &[], MetricType::Counter).unwrap();
    let before = state(&c, "jobs");
    for other in [MetricType::Gauge, MetricType::Histogram, MetricType::Timer] {
        let err = MetricsError::from(c.record_metric("jobs", 1.0, &[], other).unwrap_err());
        assert!(
            matches!(err, MetricsError::TypeMismatch { existing: MetricType::Counter, requested, .. } if requested == other),
            "{err:?}"
        );
        assert_names(&err, &["\"jobs\"", "counter", other.as_str()]);
    }
    assert!(matches!(c.gauge("jobs", &[]), Err(MetricsError::TypeMismatch { .. })));
    assert!(matches!(
        c.histogram("jobs", &[]),
        Err(MetricsError::TypeMismatch { .. })
    ));
    assert!(matches!(c.timer("jobs", &[]), Err(MetricsError::TypeMismatch { .. })));
    assert!(matches!(
        c.describe_metric("jobs", MetricType::Gauge, MetricOptions::default()),
        Err(MetricsError::TypeMismatch { .. })
    ));
    assert_eq!(state(&c, "jobs"), before);
}

#[test]
fn an_empty_tag_key_is_rejected() {
    let err = rejected("m", MetricType::Gauge, |c| {
        c.record_metric("m", 1.0, &[("ok", "1"), ("", "value")], MetricType::Gauge)
    });
    assert!(matches!(err, MetricsError::EmptyTagKey { .. }), "{err:?}");
    assert_names(&err, &["\"m\"", "tag key is empty"]);
}

#[test]
fn a_duplicate_tag_key_is_rejected() {
    let err = rejected("m", MetricType::Gauge, |c| {
        c.record_metric("m", 1.0, &[("status", "ok"), ("status", "failed")], MetricType::Gauge)
    });
    assert!(
        matches!(&err, MetricsError::DuplicateTagKey { key, .. } if key == "status"),
        "{err:?}"
    );
    assert_names(&err, &["\"status\""]);
}

#[test]
fn too_many_tags_are_rejected_with_the_count_and_limit() {
    let tags: Vec<(String, String)> = (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let err = rejected("m", MetricType::Gauge, |c| {
        c.record_metric("m", 1.0, &tags, MetricType::Gauge)
    });
    assert!(
        matches!(err, MetricsError::TooManyTags { count: 17, max: 16, .. }),
        "{err:?}"
    );
    assert_names(&err, &["17", "16"]);

    let huge: Vec<(String, String)> = (0..10_000).map(|i| (format!("k{i}"), String::new())).collect();
    let err = rejected("m", MetricType::Gauge, |c| {
        c.record_metric("m", 1.0, &huge, MetricType::Gauge)
    });
    assert!(
        matches!(err, MetricsError::TooManyTags { count: 10_000, .. }),
        "{err:?}"
    );

    // Exactly the limit is fine.
    let sixteen: Vec<(String, String)> = (0..16).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    collector()
        .record_metric("m", 1.0, &sixteen, MetricType::Gauge)
        .unwrap();
}

#[test]
fn the_reserved_overflow_key_is_rejected() {
    for value in ["true", "false", ""] {
        let err = rejected("m", MetricType::Counter, |c| {
            c.record_metric("m", 1.0, &[("overflow", value)], MetricType::Counter)
        });
        assert!(
            matches!(&err, MetricsError::ReservedTagKey { key, .. } if key == "overflow"),
            "{err:?}"
        );
        assert_names(&err, &["\"overflow\""]);
    }
}

#[test]
fn bad_tag_keys_and_values_are_rejected() {
    let long_key = "k".repeat(256);
    let long_value = "v".repeat(1025);
    let cases: [(&str, &str, &str); 4] = [
        ("bad\nkey", "v", "bad\\nkey"),
        (&long_key, "v", "kkkk"),
        ("k", "nul\0inside", "nul\\0inside"),
        ("k", &long_value, "1025"),
    ];
    for (key, value, shown) in cases {
        let err = rejected("m", MetricType::Gauge, |c| {
            c.record_metric("m", 1.0, &[(key, value)], MetricType::Gauge)
        });
        assert!(
            matches!(
                err,
                MetricsError::InvalidTagKey { .. } | MetricsError::InvalidTagValue { .. }
            ),
            "{key:?}={value:?}: {err:?}"
        );
        assert_names(&err, &[shown]);
    }
}

#[test]
fn handles_reject_bad_names_and_tags_without_creating_the_series() {
    let c = collector();
    assert!(matches!(c.counter("", &[]), Err(MetricsError::EmptyName)));
    assert!(matches!(
        c.gauge("a\nb", &[]),
        Err(MetricsError::NameControlChar { .. })
    ));
    assert!(matches!(
        c.histogram("h", &[("", "x")]),
        Err(MetricsError::EmptyTagKey { .. })
    ));
    assert!(matches!(
        c.timer("t", &[("overflow", "true")]),
        Err(MetricsError::ReservedTagKey { .. })
    ));
    assert!(matches!(
        c.counter("c", &[("a", "1"), ("a", "2")]),
        Err(MetricsError::DuplicateTagKey { .. })
    ));
    assert!(c.list_series().is_empty(), "{:?}", c.list_series());
}

#[test]
fn non_finite_handle_updates_are_ignored_and_counted() {
    let c = collector();
    let g = c.gauge("g", &[]).unwrap();
    g.set(2.0);
    g.set(f64::NAN);
    g.increment(f64::INFINITY);
    g.decrement(f64::NEG_INFINITY);
    assert_eq!(g.value(), 2.0);
    let h = c.histogram("h", &[]).unwrap();
    h.record(f64::NAN);
    h.record(1.0);
    assert_eq!(c.get_metric_series("g").unwrap().rejected_values(), 3);
    let hs = c.get_metric_series("h").unwrap();
    assert_eq!(hs.rejected_values(), 1);
    match hs.aggregate(&[]) {
        Some(metrics_core::AggregateValue::Histogram(s)) => assert_eq!((s.count, s.sum), (1, 1.0)),
        other => panic!("expected a histogram, got {other:?}"),
    }
    assert_eq!(c.snapshot().series("g").unwrap().rejected_values, 3);
}

#[test]
fn invalid_buckets_are_rejected_naming_them() {
    let c = collector();
    for buckets in [
        vec![],
        vec![1.0, 1.0],
        vec![2.0, 1.0],
        vec![0.1, f64::NAN],
        vec![1.0, f64::INFINITY],
    ] {
        let err = c
            .describe_metric(
                "h",
                MetricType::Histogram,
                MetricOptions {
                    buckets: Some(buckets.clone()),
                    ..MetricOptions::default()
                },
            )
            .unwrap_err();
        assert!(
            matches!(err, MetricsError::InvalidBuckets { .. }),
            "{buckets:?}: {err:?}"
        );
        assert_names(&err, &[&format!("{buckets:?}")]);
    }
    assert!(c.list_series().is_empty());
}
