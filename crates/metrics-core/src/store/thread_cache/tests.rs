//! The lookup cache's tests: matching, pins, guesses and invalidation.

use super::*;

/// A slot of collector 7 for `requests_total{kind="user"}` with `pins`.
fn requests_by_user_slot(pins: [Pin; 3]) -> Slot {
    let c = crate::MetricsCollector::default();
    c.increment_counter("requests_total", &[("kind", "user")], 1).unwrap();
    let series = c.get_metric_series("requests_total").unwrap();
    let entry = series.with_entry(&&[("kind", "user")], TagEntry::clone).unwrap();
    Slot {
        collector: 7,
        generation: 0,
        hash: 0,
        series,
        entry,
        key: b"requests_total\xFFkind\xFFuser".to_vec().into_boxed_slice(),
        pins: pins.map(Cell::new).into(),
        all_pinned: Cell::new(pins.iter().all(|p| *p != UNPINNED)),
        repins: Cell::new(0),
    }
}

#[test]
fn the_hash_separates_piece_boundaries_and_orders() {
    let h = |name: &str, tags: &[(&str, &str)]| key_hash(1, name, &tags);
    assert_ne!(h("m", &[("ab", "c")]), h("m", &[("a", "bc")]));
    assert_ne!(h("m", &[("k", "v1")]), h("m", &[("key", "v1")]));
    assert_ne!(h("m", &[("k", "v1")]), h("m", &[("k", "v2")]));
    assert_ne!(h("m", &[("k", "v1"), ("j", "v2")]), h("m", &[("j", "v2"), ("k", "v1")]));
    assert_ne!(h("ma", &[]), h("m", &[("a", "")]));
    assert_eq!(
        h("a_long_metric_name_over_16", &[("k", "v")]),
        h("a_long_metric_name_over_16", &[("k", "v")])
    );
    assert_ne!(
        h("a_long_metric_name_over_16", &[]),
        h("a_long_metric_name_over_17", &[])
    );
    assert_ne!(key_hash(1, "m", &&[("k", "v")]), key_hash(2, "m", &&[("k", "v")]));
}

#[test]
fn a_slot_matches_only_its_own_name_and_tags() {
    let slot = requests_by_user_slot([UNPINNED; 3]);
    assert!(slot.matches(7, "requests_total", &&[("kind", "user")]));
    assert!(!slot.matches(8, "requests_total", &&[("kind", "user")]));
    assert!(!slot.matches(7, "requests_tota", &&[("kind", "user")]));
    assert!(!slot.matches(7, "requests_total", &&[("kind", "use")]));
    assert!(!slot.matches(7, "requests_total", &&[("kind", "users")]));
    assert!(!slot.matches(7, "requests_total", &&[("kin", "duser")]));
    assert!(!slot.matches(7, "requests_total", &&[]));
    assert!(!slot.matches(7, "requests_total", &&[("kind", "user"), ("a", "b")]));
    // The same checks through `for_each_tag` (forms without `str_pairs`).
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    assert!(slot.matches(7, "requests_total", &&owned(&[("kind", "user")])));
    assert!(!slot.matches(7, "requests_total", &&owned(&[("kind", "use")])));
    assert!(!slot.matches(7, "requests_total", &&owned(&[("kin", "duser")])));
    assert!(!slot.matches(7, "requests_total", &&owned(&[])));
    assert!(!slot.matches(7, "requests_total", &&owned(&[("kind", "user"), ("a", "b")])));
}

#[test]
fn a_pinned_piece_matches_its_literal_and_any_copy_of_its_text() {
    let (name, kind, user) = ("requests_total", "kind", "user");
    let slot = requests_by_user_slot([pin_of(name), pin_of(kind), pin_of(user)]);
    if cfg!(target_os = "linux") {
        assert_ne!(slot.pins[2].get(), UNPINNED, "a literal is pinned");
    }
    assert!(slot.matches(7, name, &&[(kind, user)]));
    // The same text elsewhere is compared by its bytes.
    let (n, k, v) = (name.to_string(), kind.to_string(), user.to_string());
    assert!(slot.matches(7, &n, &&[(k.as_str(), v.as_str())]));
    // A shorter or longer piece at the pinned address is another piece.
    assert!(!slot.matches(7, name, &&[(kind, &user[..3])]));
    assert!(!slot.matches(7, &name[..13], &&[(kind, user)]));
    let longer = "users";
    assert!(!slot.matches(7, name, &&[(kind, longer)]));
    assert!(!slot.matches(7, name, &&[(kind, user), (kind, user)]));
    assert!(!slot.matches(7, name, &&[]));
}

#[test]
fn a_hit_from_another_copy_of_the_literals_moves_the_pins_a_bounded_number_of_times() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let (name, kind, user) = ("requests_total", "kind", "user");
    // The same texts at other addresses, still in the read-only image
    // (as a second codegen unit's copies of the literals would be).
    let (name2, kind2, user2) = (&"_requests_total"[1..], &"_kind"[1..], &"_user"[1..]);
    assert_ne!(name.as_ptr(), name2.as_ptr());
    let slot = requests_by_user_slot([pin_of(name), pin_of(kind), pin_of(user)]);
    assert!(slot.same_literals(name, &[(kind, user)]));
    assert!(!slot.same_literals(name2, &[(kind2, user2)]));
    assert!(slot.matches(7, name2, &&[(kind2, user2)]), "equal bytes match");
    assert!(
        slot.same_literals(name2, &[(kind2, user2)]),
        "the pins moved to the caller's copies"
    );
    assert!(!slot.same_literals(name, &[(kind, user)]));
    // Heap strings match by their bytes and never become pins.
    let (n, k, v) = (name.to_string(), kind.to_string(), user.to_string());
    assert!(slot.matches(7, &n, &&[(k.as_str(), v.as_str())]));
    assert!(slot.same_literals(name2, &[(kind2, user2)]));
    // Two call sites that alternate stop moving the pins.
    for _ in 0..2 * MAX_REPINS {
        assert!(slot.matches(7, name, &&[(kind, user)]));
        assert!(slot.matches(7, name2, &&[(kind2, user2)]));
    }
    assert_eq!(slot.repins.get(), MAX_REPINS);
    assert!(
        !slot.matches(7, name2, &&[(kind2, "users")]),
        "a repinned slot still checks bytes"
    );
}

#[test]
fn a_guess_by_address_is_checked_against_the_bytes() {
    let c = crate::MetricsCollector::default();
    // One buffer, rewritten in place: the same address and length
    // (the same identity) holds another value on the second round.
    let mut value = String::with_capacity(8);
    for (text, calls) in [("aaaa", 3), ("bbbb", 2)] {
        value.clear();
        value.push_str(text);
        for _ in 0..calls {
            c.increment_counter("requests_total", &[("kind", value.as_str())], 1)
                .unwrap();
        }
    }
    let series = c.get_metric_series("requests_total").unwrap();
    let total = |v: &str| series.aggregate(&[("kind", v)]);
    assert_eq!(total("aaaa"), Some(crate::AggregateValue::Counter { total: 3.0 }));
    assert_eq!(total("bbbb"), Some(crate::AggregateValue::Counter { total: 2.0 }));
}

#[test]
fn call_sites_sharing_a_guess_each_reach_their_own_series() {
    let c = crate::MetricsCollector::default();
    // Many values in turn, so that some share an entry of the guess
    // array and overwrite each other's guess; every total stays exact.
    let values: Vec<String> = (0..4 * RECENT).map(|i| format!("v{i}")).collect();
    for round in 0..3 {
        for v in &values {
            c.increment_counter("requests_total", &[("kind", v.as_str())], round + 1)
                .unwrap();
        }
    }
    let series = c.get_metric_series("requests_total").unwrap();
    for v in &values {
        assert_eq!(
            series.aggregate(&[("kind", v.as_str())]),
            Some(crate::AggregateValue::Counter { total: 6.0 }),
            "{v}"
        );
    }
}
