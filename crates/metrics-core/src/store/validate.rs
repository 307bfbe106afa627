//! Input validation: names, values and tags. Everything a caller controls
//! passes through here before the store changes.

use std::cmp::Ordering;
use std::mem::MaybeUninit;

use crate::error::{RecordError, RecordErrorKind};
use crate::hash::{half, word};
use crate::kind::MetricType;
use crate::tags::Tags;

/// Longest metric name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag key accepted, in bytes.
pub const MAX_TAG_KEY_LEN: usize = 255;
/// Longest tag value accepted, in bytes.
pub const MAX_TAG_VALUE_LEN: usize = 1024;
/// Hard ceiling for `MetricsConfig::max_tags_per_sample`.
pub const MAX_TAGS_LIMIT: usize = 64;
/// The tag key that marks the tag set absorbing updates past the cardinality cap.
pub const OVERFLOW_TAG_KEY: &str = "overflow";

fn preview(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks a metric name: non-empty, at most [`MAX_NAME_LEN`] bytes, no
/// control characters.
pub fn validate_name(name: &str) -> Result<(), RecordError> {
    if name.is_empty() {
        return Err(RecordErrorKind::EmptyName.into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(RecordErrorKind::NameTooLong {
            preview: name.chars().take(32).collect(),
            len: name.len(),
            max: MAX_NAME_LEN,
        }
        .into());
    }
    if let Some(ch) = name.chars().find(|c| c.is_control()) {
        return Err(RecordErrorKind::NameControlChar {
            name: name.to_owned(),
            ch,
        }
        .into());
    }
    Ok(())
}

/// Checks a value for a series of type `ty`: finite, ≥ 0 for counters, and
/// ≥ 0 for timers (a duration cannot be negative).
#[inline]
pub(crate) fn validate_value(name: &str, ty: MetricType, value: f64) -> Result<(), RecordError> {
    if !value.is_finite() {
        return Err(RecordErrorKind::NonFiniteValue {
            name: name.to_owned(),
            value,
        }
        .into());
    }
    if ty == MetricType::Counter && value < 0.0 {
        return Err(RecordErrorKind::NegativeCounterIncrement {
            name: name.to_owned(),
            value,
        }
        .into());
    }
    if ty == MetricType::Timer && value < 0.0 {
        return Err(RecordErrorKind::NegativeDuration {
            name: name.to_owned(),
            value,
        }
        .into());
    }
    Ok(())
}

fn validate_tag(name: &str, key: &str, value: &str) -> Result<(), RecordError> {
    if key.is_empty() {
        return Err(RecordErrorKind::EmptyTagKey { name: name.to_owned() }.into());
    }
    let bad_key = |reason| RecordErrorKind::InvalidTagKey {
        name: name.to_owned(),
        key: preview(key),
        reason,
    };
    if key.len() > MAX_TAG_KEY_LEN {
        return Err(bad_key("longer than 255 bytes").into());
    }
    if has_control(key, false) {
        return Err(bad_key("contains a control character").into());
    }
    if key == OVERFLOW_TAG_KEY {
        return Err(RecordErrorKind::ReservedTagKey {
            name: name.to_owned(),
            key: key.to_owned(),
        }
        .into());
    }
    let bad_value = |reason: String| RecordErrorKind::InvalidTagValue {
        name: name.to_owned(),
        key: preview(key),
        value: preview(value),
        reason,
    };
    match tag_value_fault(value) {
        Some(TagValueFault::TooLong(len)) => Err(bad_value(format!(
            "{len} bytes long; tag values are limited to {MAX_TAG_VALUE_LEN} bytes"
        ))
        .into()),
        Some(TagValueFault::ControlCharacter(c)) => {
            Err(bad_value(format!("contains the control character {c:?}")).into())
        }
        None => Ok(()),
    }
}

/// Why a text cannot be a tag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagValueFault {
    /// Longer than [`MAX_TAG_VALUE_LEN`] bytes (its length).
    TooLong(usize),
    /// Holds this control character (any but `\n`, `\r`, `\t`).
    ControlCharacter(char),
}

/// The rule for tag values, for the store and for what is interned to
/// become one: `None` when `value` may be a tag value.
pub(crate) fn tag_value_fault(value: &str) -> Option<TagValueFault> {
    if value.len() > MAX_TAG_VALUE_LEN {
        return Some(TagValueFault::TooLong(value.len()));
    }
    if has_control(value, true) {
        return value
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            .map(TagValueFault::ControlCharacter);
    }
    None
}

/// Whether `s` holds a control character (`char::is_control`: U+0000–U+001F
/// and U+007F–U+009F), but for `\n`, `\r` and `\t` when `whitespace_ok`.
/// By bytes, as every tag of a new tag set is checked: the C1 controls are
/// the two-byte sequences `C2 80`–`C2 9F`.
fn has_control(s: &str, whitespace_ok: bool) -> bool {
    let b = s.as_bytes();
    // Printable ASCII only (nearly every tag): decided a word at a time.
    if all_printable_ascii(b) {
        return false;
    }
    b.iter().enumerate().any(|(i, &c)| match c {
        b'\n' | b'\r' | b'\t' => !whitespace_ok,
        0..=0x1f | 0x7f => true,
        0xc2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        _ => false,
    })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The top bit of each of the 8 bytes of `w` that may be outside printable
/// ASCII (`0x20..=0x7E`); 0 when all are inside. A byte is outside when its
/// top bit is set, when it is below `0x20` (the borrow of `w - 0x20` per
/// byte reaches the top bit of a byte whose own top bit is clear) or when
/// it is `0x7F` (a zero byte of `w ^ 0x7F…`, found the same way). A borrow
/// only starts at a byte that is outside the range, so whether the result
/// is 0 is exact (which bytes it flags past the first is not).
#[inline(always)]
fn unprintable_bits(w: u64) -> u64 {
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let del = w ^ (ONES * 0x7f);
    let is_del = del.wrapping_sub(ONES) & !del;
    (w | below_space | is_del) & HIGH_BITS
}

/// Non-zero when a byte of `b` is outside printable ASCII, 0 when every byte
/// is inside; without a branch on the answer, so that the caller can fold
/// every key and value of a tag set into one test. Tag keys and values are
/// short (mostly under 16 bytes, too short for the compiler's vector loop to
/// start): up to 16 bytes are two words, the second overlapping the first,
/// and a piece under 8 bytes is one word filled with spaces.
#[inline(always)]
fn unprintable_in(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        // SAFETY: 8 <= n.
        let mut bits = unsafe { unprintable_bits(word(b, 0)) | unprintable_bits(word(b, n - 8)) };
        let mut at = 8;
        while at + 8 < n {
            // SAFETY: `at + 8 < n`.
            bits |= unprintable_bits(unsafe { word(b, at) });
            at += 8;
        }
        return bits;
    }
    let w = if n >= 4 {
        // SAFETY: 4 <= n.
        unsafe { half(b, 0) | half(b, n - 4) << 32 }
    } else if n > 0 {
        // Bytes 0, n/2 and n-1 cover all of 1 to 3 bytes.
        0x2020_2020_2000_0000 | u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
    } else {
        ONES * 0x20
    };
    unprintable_bits(w)
}

/// Whether every byte of `b` is printable ASCII.
#[inline]
fn all_printable_ascii(b: &[u8]) -> bool {
    unprintable_in(b) == 0
}

/// Validates every tag and returns the pairs sorted by key.
pub(crate) fn sorted_tags<'t>(
    name: &str,
    tags: &'t impl Tags,
    max_tags: usize,
) -> Result<Vec<(&'t str, &'t str)>, RecordError> {
    let count = tags.tag_count();
    if count > max_tags {
        return Err(RecordErrorKind::TooManyTags {
            name: name.to_owned(),
            count,
            max: max_tags,
        }
        .into());
    }
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(count);
    tags.for_each_tag(|k, v| pairs.push((k, v)));
    sort_and_check(name, &mut pairs)?;
    Ok(pairs)
}

/// Tags that [`sorted_tags_in`] sorts on the stack; more take a `Vec`.
pub(crate) const STACK_TAGS: usize = 16;

/// [`sorted_tags`] into `buf` when they fit (no allocation), else into a
/// `Vec` left in `heap`; returns the sorted pairs. `buf` is uninitialised
/// stack space: only the pairs given are written (a new tag set is a few
/// tags, and filling 16 slots first cost more than sorting them).
pub(crate) fn sorted_tags_in<'t, 'b>(
    name: &str,
    tags: &'t impl Tags,
    max_tags: usize,
    buf: &'b mut [MaybeUninit<(&'t str, &'t str)>; STACK_TAGS],
    heap: &'b mut Vec<(&'t str, &'t str)>,
) -> Result<&'b [(&'t str, &'t str)], RecordError> {
    let count = tags.tag_count();
    if count > STACK_TAGS {
        *heap = sorted_tags(name, tags, max_tags)?;
        return Ok(heap.as_slice());
    }
    if count > max_tags {
        return Err(RecordErrorKind::TooManyTags {
            name: name.to_owned(),
            count,
            max: max_tags,
        }
        .into());
    }
    let mut n = 0;
    tags.for_each_tag(|k, v| {
        // `tag_count` said how many; a `Tags` that yields more is cut short.
        if let Some(slot) = buf.get_mut(n) {
            slot.write((k, v));
            n += 1;
        }
    });
    // SAFETY: the first `n` slots were written just above, and a pair of
    // `&str` needs no drop, so viewing them as initialised is sound.
    let pairs = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<(&'t str, &'t str)>(), n) };
    sort_and_check(name, pairs)?;
    Ok(pairs)
}

/// Sorts `pairs` by key; an error for a repeated key or an invalid pair.
///
/// An insertion sort: a tag set is a few tags (at most 64), where it beats
/// the general sort, and every two neighbours of the result were compared
/// once (an element moves left past strictly greater keys and stops at the
/// first key not greater), so a repeated key shows as an equal comparison,
/// with no second pass.
fn sort_and_check(name: &str, pairs: &mut [(&str, &str)]) -> Result<(), RecordError> {
    for i in 1..pairs.len() {
        let mut j = i;
        while j > 0 {
            match compare_keys(pairs[j - 1].0, pairs[j].0) {
                Ordering::Less => break,
                Ordering::Equal => {
                    return Err(RecordErrorKind::DuplicateTagKey {
                        name: name.to_owned(),
                        key: pairs[j].0.to_owned(),
                    }
                    .into());
                }
                Ordering::Greater => {
                    pairs.swap(j - 1, j);
                    j -= 1;
                }
            }
        }
    }
    // Nearly every tag set is short printable ASCII within the limits:
    // decided for all pairs at once, without a branch per check; any doubt
    // goes to the exact check, which names the offending tag.
    let mut doubt = false;
    let mut unprintable = 0;
    for (k, v) in pairs.iter() {
        doubt |= k.is_empty() | (k.len() > MAX_TAG_KEY_LEN) | (v.len() > MAX_TAG_VALUE_LEN) | (*k == OVERFLOW_TAG_KEY);
        unprintable |= unprintable_in(k.as_bytes()) | unprintable_in(v.as_bytes());
    }
    if doubt | (unprintable != 0) {
        for (k, v) in pairs.iter() {
            validate_tag(name, k, v)?;
        }
    }
    Ok(())
}

/// Byte order of two keys, from their first bytes when those differ (most
/// keys of a tag set do), without a call to `memcmp`.
#[inline(always)]
fn compare_keys(a: &str, b: &str) -> Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// Longest unit accepted by `describe_metric`.
pub(crate) const MAX_UNIT_LEN: usize = 64;

/// Checks a unit: `[a-z][a-z0-9_]*`, at most [`MAX_UNIT_LEN`] bytes, so it
/// can be a suffix of an exposition name (`_seconds`, `_bytes`).
pub(crate) fn validate_unit(name: &str, unit: &str) -> crate::Result<()> {
    let bad = |reason| crate::MetricsError::InvalidUnit {
        name: name.to_owned(),
        unit: unit.chars().take(MAX_UNIT_LEN).collect(),
        reason,
    };
    if unit.is_empty() {
        return Err(bad("a unit is not empty (leave it out instead)"));
    }
    if unit.len() > MAX_UNIT_LEN {
        return Err(bad("a unit is at most 64 bytes"));
    }
    let mut bytes = unit.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_lowercase()) {
        return Err(bad("a unit starts with a lower-case letter a-z"));
    }
    if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(bad("a unit holds only a-z, 0-9 and _"));
    }
    Ok(())
}

/// Checks histogram bucket bounds: non-empty, finite, strictly increasing.
pub(crate) fn validate_buckets(name: &str, buckets: &[f64]) -> Result<(), RecordError> {
    let bad = |reason| RecordErrorKind::InvalidBuckets {
        name: name.to_owned(),
        buckets: buckets.to_vec(),
        reason,
    };
    if buckets.is_empty() {
        return Err(bad("no bounds given").into());
    }
    if buckets.iter().any(|b| !b.is_finite()) {
        return Err(bad("bounds must be finite (+Inf is implied)").into());
    }
    if buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("bounds must be strictly increasing").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MetricsError;

    /// The error as callers holding a `MetricsError` see it.
    fn m<T>(r: Result<T, RecordError>) -> Result<T, MetricsError> {
        r.map_err(MetricsError::from)
    }

    #[test]
    fn the_byte_scan_finds_exactly_the_control_characters() {
        for c in (0u32..0x800).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            let ws = matches!(c, '\n' | '\r' | '\t');
            assert_eq!(has_control(&s, false), c.is_control(), "{c:?}");
            assert_eq!(has_control(&s, true), c.is_control() && !ws, "{c:?}");
        }
        assert!(!has_control("é ü \u{a0} 日本", false));
    }

    #[test]
    fn the_word_scan_finds_every_unprintable_byte_at_every_position() {
        for len in 0..=24 {
            assert!(all_printable_ascii(&vec![b'~'; len]), "{len}");
            assert!(all_printable_ascii(&vec![b' '; len]), "{len}");
            for at in 0..len {
                for bad in [0u8, 0x1f, 0x7f, 0x80, 0xc2, 0xff] {
                    let mut s = vec![b'a'; len];
                    s[at] = bad;
                    assert!(!all_printable_ascii(&s), "{len} {at} {bad:#x}");
                }
            }
        }
        let every: Vec<u8> = (0x20..0x7f).collect();
        assert!(all_printable_ascii(&every));
    }

    #[test]
    fn tags_sort_by_key_in_any_order_and_a_repeat_is_found_anywhere() {
        let keys = ["b", "a", "ab", "c", "ba", "abc"];
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        for rotation in 0..keys.len() {
            for reverse in [false, true] {
                let mut p: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "v")).collect();
                p.rotate_left(rotation);
                if reverse {
                    p.reverse();
                }
                assert!(m(sort_and_check("m", &mut p)).is_ok());
                assert_eq!(p.iter().map(|(k, _)| *k).collect::<Vec<_>>(), sorted);
            }
        }
        // The empty key sorts first, then is refused.
        let mut p = vec![("b", "1"), ("", "2")];
        assert!(matches!(
            m(sort_and_check("m", &mut p)),
            Err(MetricsError::EmptyTagKey { .. })
        ));
        for i in 0..5 {
            for j in 0..5 {
                if i == j {
                    continue;
                }
                let mut p: Vec<(&str, &str)> = ["q", "w", "e", "r", "t"].iter().map(|k| (*k, "v")).collect();
                p[j].0 = p[i].0;
                assert!(
                    matches!(
                        m(sort_and_check("m", &mut p)),
                        Err(MetricsError::DuplicateTagKey { .. })
                    ),
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn names() {
        assert!(m(validate_name("job.duration_seconds")).is_ok());
        assert!(matches!(m(validate_name("")), Err(MetricsError::EmptyName)));
        assert!(matches!(
            m(validate_name(&"x".repeat(256))),
            Err(MetricsError::NameTooLong { len: 256, .. })
        ));
        assert!(m(validate_name(&"x".repeat(255))).is_ok());
        let e = m(validate_name("a\nb")).unwrap_err();
        assert!(e.to_string().contains("\"a\\nb\""), "{e}");
    }

    #[test]
    fn values() {
        assert!(m(validate_value("c", MetricType::Counter, 0.0)).is_ok());
        assert!(matches!(
            m(validate_value("c", MetricType::Counter, -1.0)),
            Err(MetricsError::NegativeCounterIncrement { .. })
        ));
        assert!(m(validate_value("g", MetricType::Gauge, -1.0)).is_ok());
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                m(validate_value("g", MetricType::Gauge, v)),
                Err(MetricsError::NonFiniteValue { .. })
            ));
        }
    }

    #[test]
    fn tags() {
        let ok: &[(&str, &str)] = &[("b", "x\ny"), ("a", "1")];
        assert_eq!(m(sorted_tags("m", &ok, 8)).unwrap(), vec![("a", "1"), ("b", "x\ny")]);
        let dup: &[(&str, &str)] = &[("a", "1"), ("a", "2")];
        assert!(matches!(
            m(sorted_tags("m", &dup, 8)),
            Err(MetricsError::DuplicateTagKey { .. })
        ));
        let empty: &[(&str, &str)] = &[("", "1")];
        assert!(matches!(
            m(sorted_tags("m", &empty, 8)),
            Err(MetricsError::EmptyTagKey { .. })
        ));
        let many: Vec<(String, String)> = (0..9).map(|i| (i.to_string(), String::new())).collect();
        assert!(matches!(
            m(sorted_tags("m", &&many, 8)),
            Err(MetricsError::TooManyTags { count: 9, max: 8, .. })
        ));
        let reserved: &[(&str, &str)] = &[("overflow", "true")];
        assert!(matches!(
            m(sorted_tags("m", &reserved, 8)),
            Err(MetricsError::ReservedTagKey { .. })
        ));
        let nul: &[(&str, &str)] = &[("k", "a\0b")];
        assert!(matches!(
            m(sorted_tags("m", &nul, 8)),
            Err(MetricsError::InvalidTagValue { .. })
        ));
        let long = "v".repeat(MAX_TAG_VALUE_LEN + 1);
        let long: &[(&str, &str)] = &[("k", &long)];
        assert!(matches!(
            m(sorted_tags("m", &long, 8)),
            Err(MetricsError::InvalidTagValue { .. })
        ));
    }

    #[test]
    fn buckets() {
        assert!(m(validate_buckets("h", &[0.1, 1.0])).is_ok());
        assert!(m(validate_buckets("h", &[])).is_err());
        assert!(m(validate_buckets("h", &[1.0, 1.0])).is_err());
        assert!(m(validate_buckets("h", &[1.0, f64::INFINITY])).is_err());
    }
}
