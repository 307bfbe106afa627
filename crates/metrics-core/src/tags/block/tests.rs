//! Tests of `TagBlock` and `TagEntry`: layout, sharing between tag sets and entries, drops.

use std::alloc::Layout;
use std::sync::Arc;

use super::*;
use crate::cell::{CounterCell, HistogramCell};
use crate::tags::encode_sorted_unique;
use crate::tags::entry::TagEntry;

/// A histogram aggregate whose bucket bounds are shared with the caller:
/// `Arc::strong_count(bounds) - 1` is the number of such aggregates alive,
/// which is how these tests count drops.
fn histogram(bounds: &Arc<[f64]>) -> Aggregate {
    Aggregate::Histogram(Box::new(HistogramCell::new(Arc::clone(bounds))))
}

fn counter_total(block: &TagBlock) -> Option<u64> {
    match block.aggregate()? {
        Aggregate::Counter(c) => Some(c.total_u64()),
        _ => None,
    }
}

#[test]
fn the_entry_header_offset_is_where_layout_puts_the_header() {
    let (_, offset) = Layout::new::<Aggregate>().extend(Layout::new::<Header>()).unwrap();
    assert_eq!(offset, ENTRY_HEADER_OFFSET);
    assert_eq!(size_of::<Header>(), 12);
    assert_eq!(size_of::<TagBlock>(), 8);
    assert_eq!(size_of::<Option<TagEntry>>(), 8, "an empty slot costs no extra word");
}

#[test]
fn a_plain_block_holds_its_text_behind_a_12_byte_header() {
    let block = TagBlock::plain(b"kind\xffuser").unwrap();
    assert_eq!(block.text(), b"kind\xffuser");
    assert!(block.aggregate().is_none());
    assert_eq!(
        block.heap_bytes(),
        12 + 12,
        "9 bytes of text padded to the header's 4-byte alignment"
    );
    let empty = TagBlock::plain(b"").unwrap();
    assert_eq!(empty.text(), b"");
    assert_eq!(empty.heap_bytes(), 12);
}

#[test]
fn a_text_of_255_bytes_or_more_keeps_its_length_after_the_header() {
    for len in [253, 254, 255, 256, 1000, 70_000] {
        let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let plain = TagBlock::plain(&text).unwrap();
        assert_eq!(plain.text(), &text[..], "{len}");
        let long = usize::from(len >= 255) * 4;
        assert_eq!(plain.heap_bytes(), (12 + long + len).next_multiple_of(4), "{len}");
        let entry = TagEntry::new(&text, 9, Aggregate::Counter(CounterCell::default())).unwrap();
        assert_eq!(entry.tags().as_bytes(), &text[..], "{len}");
        assert_eq!(entry.id(), 9);
        assert_eq!(
            entry.tags().block().heap_bytes(),
            (ENTRY_HEADER_OFFSET + 12 + long + len).next_multiple_of(8),
            "{len}"
        );
    }
}

#[test]
fn an_entry_encoded_into_its_block_is_the_stored_form_of_its_pairs() {
    use crate::tags::hash_tags;
    for pairs in [
        &[][..],
        &[("k", "")][..],
        &[("a", "1"), ("bb", "22"), ("ccc", "333")][..],
        &[
            ("kind", "internal"),
            ("route", "/api/v1/products/:id/purchase"),
            ("user_name", "user-0000001"),
        ][..],
    ] {
        let hash = hash_tags(&pairs);
        let entry = TagEntry::from_sorted_pairs(pairs, 2, hash, Aggregate::Counter(CounterCell::default())).unwrap();
        assert_eq!(entry.tags().as_bytes(), &encode_sorted_unique(pairs)[..]);
        assert_eq!(entry.tags().iter().collect::<Vec<_>>(), pairs.to_vec());
        assert!(entry.may_hash_to(hash));
        assert_eq!(entry.own_table_hash(), TagEntry::table_hash(hash));
    }
}

#[test]
fn a_writer_that_overruns_its_block_panics_and_frees_it() {
    let result = std::panic::catch_unwind(|| {
        TagBlock::entry_with(3, 0, 0, Aggregate::Counter(CounterCell::default()), |w| w.put(b"four"))
    });
    assert!(result.is_err());
    let result = std::panic::catch_unwind(|| {
        TagBlock::entry_with(3, 0, 0, Aggregate::Counter(CounterCell::default()), |w| w.put(b"ab"))
    });
    assert!(result.is_err(), "a text shorter than its block is never read");
}

#[test]
fn an_entry_block_holds_text_id_and_aggregate_in_one_allocation() {
    let text = encode_sorted_unique(&[("kind", "user"), ("route", "/api")]);
    let entry = TagEntry::new(&text, 7, Aggregate::Counter(CounterCell::default())).unwrap();
    assert_eq!(entry.id(), 7);
    assert_eq!(
        entry.tags().iter().collect::<Vec<_>>(),
        vec![("kind", "user"), ("route", "/api")]
    );
    assert_eq!(
        entry.tags().block().heap_bytes(),
        (ENTRY_HEADER_OFFSET + 12 + text.len()).next_multiple_of(8)
    );
    if let Aggregate::Counter(c) = entry.aggregate() {
        c.add(3);
    }
    // A tag set cloned out of the entry is the same block.
    let tags = entry.tags().clone();
    assert_eq!(counter_total(tags.block()), Some(3));
    assert_eq!(tags, crate::TagSet::from_pairs([("route", "/api"), ("kind", "user")]));
}

#[test]
fn ids_saturate_below_the_plain_marker_and_stay_entries() {
    let bounds: Arc<[f64]> = Arc::from([1.0, 2.0]);
    let entry = TagEntry::new(b"", u32::MAX, histogram(&bounds)).unwrap();
    assert_eq!(entry.id(), u32::MAX - 1);
    assert!(entry.tags().block().aggregate().is_some());
    assert_eq!(Arc::strong_count(&bounds), 2);
    drop(entry);
    assert_eq!(
        Arc::strong_count(&bounds),
        1,
        "the aggregate was dropped with the entry"
    );
}

#[test]
fn the_aggregate_is_dropped_once_by_the_last_reference_in_any_order() {
    let bounds: Arc<[f64]> = Arc::from([1.0]);
    // Entry first, then its clones.
    let entry = TagEntry::new(b"a\xff1", 0, histogram(&bounds)).unwrap();
    let copy = entry.clone();
    let tags = entry.tags().clone();
    assert_eq!(Arc::strong_count(&bounds), 2, "clones share one aggregate");
    drop(entry);
    drop(copy);
    assert_eq!(Arc::strong_count(&bounds), 2, "a tag set clone keeps the block alive");
    if let Some(Aggregate::Histogram(h)) = tags.block().aggregate() {
        h.record(0.5);
        assert_eq!(h.snapshot().count, 1);
    } else {
        panic!("an entry's tag set lost its aggregate");
    }
    drop(tags);
    assert_eq!(Arc::strong_count(&bounds), 1);

    // Tag set clones first, the entry last.
    let entry = TagEntry::new(b"", 1, histogram(&bounds)).unwrap();
    let clones: Vec<_> = (0..5).map(|_| entry.tags().clone()).collect();
    drop(clones);
    assert_eq!(Arc::strong_count(&bounds), 2);
    drop(entry);
    assert_eq!(Arc::strong_count(&bounds), 1);
}

#[test]
fn a_plain_block_never_drops_an_aggregate() {
    // A plain block dropped last must not read an aggregate that is not
    // there: build many, clone and drop them, alongside entries.
    let bounds: Arc<[f64]> = Arc::from([1.0]);
    let entries: Vec<_> = (0..10)
        .map(|i| TagEntry::new(format!("k\u{ff}{i}").as_bytes(), i, histogram(&bounds)).unwrap())
        .collect();
    for i in 0..100 {
        let plain = TagBlock::plain(format!("k{i}").as_bytes()).unwrap();
        let again = plain.clone();
        drop(plain);
        assert_eq!(again.text(), format!("k{i}").as_bytes());
    }
    assert_eq!(Arc::strong_count(&bounds), 11);
    drop(entries);
    assert_eq!(Arc::strong_count(&bounds), 1);
}

#[test]
fn clones_and_drops_racing_on_threads_free_exactly_once() {
    let bounds: Arc<[f64]> = Arc::from([1.0]);
    let counter = TagEntry::new(b"k\xffv", 0, Aggregate::Counter(CounterCell::default())).unwrap();
    let histogram_entry = TagEntry::new(b"k\xffw", 1, histogram(&bounds)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let counter = counter.clone();
            let histogram_entry = histogram_entry.clone();
            s.spawn(move || {
                for _ in 0..10_000 {
                    let c = counter.clone();
                    let t = histogram_entry.tags().clone();
                    if let Aggregate::Counter(cell) = c.aggregate() {
                        cell.add(1);
                    }
                    drop(t);
                }
            });
        }
    });
    assert_eq!(counter_total(counter.tags().block()), Some(40_000));
    assert_eq!(Arc::strong_count(&bounds), 2);
    drop(histogram_entry);
    assert_eq!(Arc::strong_count(&bounds), 1);
}

#[test]
fn debug_shows_id_tags_and_aggregate() {
    let entry = TagEntry::new(b"a\xff1", 4, Aggregate::Counter(CounterCell::default())).unwrap();
    let shown = format!("{entry:?}");
    assert!(
        shown.contains("id: 4") && shown.contains("\"a\": \"1\"") && shown.contains("Counter"),
        "{shown}"
    );
}

#[test]
fn an_entry_files_under_the_hash_of_its_tags_whatever_their_order() {
    use crate::tags::hash_tags;
    let pairs = [("kind", "user"), ("route", "/api"), ("user_name", "u-0000001")];
    let text = encode_sorted_unique(&pairs);
    let given = [("user_name", "u-0000001"), ("kind", "user"), ("route", "/api")];
    let hash = hash_tags(&&given[..]);
    let entry = TagEntry::with_hash(&text, 3, hash, Aggregate::Counter(CounterCell::default())).unwrap();
    assert_eq!(entry.own_table_hash(), TagEntry::table_hash(hash));
    assert_eq!(
        entry.tags().stored_hash(),
        hash,
        "the stored text hashes as the caller's tags do"
    );
    let built = TagEntry::new(&text, 3, Aggregate::Counter(CounterCell::default())).unwrap();
    assert_eq!(built.own_table_hash(), entry.own_table_hash());
}
