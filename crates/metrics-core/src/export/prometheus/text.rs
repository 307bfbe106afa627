//! Writing the text: escaping, numbers, sample lines.
//!
//! Everything is written as bytes into one growing buffer; the encoder turns
//! it into a `String` once at the end. Pieces are copied in runs (a label
//! value without `\\`, `"` or newline is one copy), and numbers are formatted
//! with a digit-pair table rather than through `fmt`.

use std::io::Write as _;

use super::TextFormat;
use crate::snapshot::exemplar::{BucketExemplar, Exemplar};
use crate::tags::SEP as TAG_SEPARATOR;

/// Bytes a label value escapes: `\\`, `"` and newline.
const fn needs_escape(b: u8) -> bool {
    matches!(b, b'\\' | b'"' | b'\n')
}

/// Per byte: whether it ends a run of a stored tag value: the separator, or a
/// byte to escape.
const VALUE_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b as u8 == TAG_SEPARATOR || needs_escape(b as u8);
        b += 1;
    }
    t
};

/// Per byte: whether it may appear in a label name after the first byte.
const LABEL_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    t
};

/// Appends `v` with `\\`, `"` and newlines escaped (label values).
pub(super) fn escape_label_value(v: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if needs_escape(b) {
            out.extend_from_slice(&v[start..i]);
            out.extend_from_slice(escaped(b));
            start = i + 1;
        }
    }
    out.extend_from_slice(&v[start..]);
}

fn escaped(b: u8) -> &'static [u8] {
    match b {
        b'\\' => b"\\\\",
        b'"' => b"\\\"",
        _ => b"\\n",
    }
}

/// Appends `v` with `\\` and newlines escaped (help text).
pub(super) fn escape_help(v: &str, out: &mut Vec<u8>) {
    let v = v.as_bytes();
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if b == b'\\' || b == b'\n' {
            out.extend_from_slice(&v[start..i]);
            out.extend_from_slice(escaped(b));
            start = i + 1;
        }
    }
    out.extend_from_slice(&v[start..]);
}

/// "00" "01" … "99": two digits per table read.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n` so they end at `buf[end]` (exclusive);
/// returns where they start. `buf[..end]` must hold 20 bytes.
fn digits_before(mut n: u64, buf: &mut [u8; 32], end: usize) -> usize {
    let mut i = end;
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    i
}

/// Writes a float the way Prometheus clients do (`+Inf`, `NaN`, `1.0`):
/// whole numbers below 10¹⁵ as digits and `.0`, everything else as Rust's
/// shortest round-trip form.
pub(super) fn push_float(v: f64, out: &mut Vec<u8>) {
    push_float_between(b"", v, b"", out);
}

/// Writes ` value\n`, the end of a sample line.
pub(super) fn push_sample_value(v: f64, out: &mut Vec<u8>) {
    push_float_between(b" ", v, b"\n", out);
}

/// Writes `before`, `v` as [`push_float`] does, then `after` (each at most
/// two bytes); whole numbers go out in one copy.
#[inline(always)]
fn push_float_between(before: &[u8], v: f64, after: &[u8], out: &mut Vec<u8>) {
    // `as` saturates and maps NaN to 0, so the round trip only holds for
    // whole numbers in range (and -0.0, written as `0.0` like `0.0`).
    let whole = v as i64;
    if whole as f64 == v && whole.unsigned_abs() < 1_000_000_000_000_000 {
        let mut buf = [0u8; 32];
        let end = 32 - after.len();
        buf[end..].copy_from_slice(after);
        buf[end - 2..end].copy_from_slice(b".0");
        let mut start = digits_before(whole.unsigned_abs(), &mut buf, end - 2);
        if whole < 0 {
            start -= 1;
            buf[start] = b'-';
        }
        start -= before.len();
        buf[start..start + before.len()].copy_from_slice(before);
        out.extend_from_slice(&buf[start..]);
        return;
    }
    out.extend_from_slice(before);
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
    out.extend_from_slice(after);
}

/// Writes `name suffix{labels,extra} value\n`; `labels` are rendered pairs
/// without braces, `extra` one more pair whose value needs no escaping.
pub(super) fn push_sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[u8],
    extra: Option<(&str, &[u8])>,
    v: f64,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() || extra.is_some() {
        out.push(b'{');
        out.extend_from_slice(labels);
        if let Some((k, val)) = extra {
            if !labels.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(val);
            out.push(b'"');
        }
        out.push(b'}');
    }
    push_sample_value(v, out);
}

/// Writes the samples of one family.
pub(super) struct PointWriter<'a> {
    pub(super) name: &'a str,
    /// The histogram bounds as `le` label values, rendered once per family.
    bounds: Vec<Vec<u8>>,
    format: TextFormat,
}

impl<'a> PointWriter<'a> {
    pub(super) fn new(name: &'a str, bounds: &[f64], format: TextFormat) -> Self {
        let bounds = bounds
            .iter()
            .map(|&b| {
                let mut le = Vec::new();
                push_float(b, &mut le);
                le
            })
            .collect();
        PointWriter { name, bounds, format }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn histogram(
        &self,
        out: &mut Vec<u8>,
        labels: &[u8],
        cumulative: impl Iterator<Item = u64>,
        count: u64,
        sum: f64,
        negative: bool,
        exemplars: &[BucketExemplar],
    ) {
        let mut pending = exemplars.iter().peekable();
        for (i, (le, c)) in self.bounds.iter().zip(cumulative).enumerate() {
            push_sample(out, self.name, "_bucket", labels, Some(("le", le)), c as f64);
            if let Some(e) = pending.next_if(|e| e.bucket == i) {
                self.exemplar(out, &e.exemplar);
            }
        }
        push_sample(out, self.name, "_bucket", labels, Some(("le", b"+Inf")), count as f64);
        if let Some(e) = pending.find(|e| e.bucket == self.bounds.len()) {
            self.exemplar(out, &e.exemplar);
        }
        // OpenMetrics forbids `_sum` when observations can be negative.
        if self.format == TextFormat::Prometheus || !negative {
            push_sample(out, self.name, "_sum", labels, None, sum);
        }
        push_sample(out, self.name, "_count", labels, None, count as f64);
    }
}

impl PointWriter<'_> {
    /// In OpenMetrics text, turns the sample line just written (ending in
    /// `\n`) into one with ` # {labels} value timestamp`; Prometheus 0.0.4
    /// has no exemplars, so nothing changes there.
    pub(super) fn exemplar(&self, out: &mut Vec<u8>, e: &Exemplar) {
        if self.format != TextFormat::OpenMetrics || out.last() != Some(&b'\n') {
            return;
        }
        out.pop();
        out.extend_from_slice(b" # {");
        push_label_pairs(e.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())), out);
        out.push(b'}');
        push_sample_value_without_newline(e.value, out);
        out.push(b' ');
        push_float(e.timestamp_nanos as f64 / 1e9, out);
        out.push(b'\n');
    }
}

fn push_sample_value_without_newline(v: f64, out: &mut Vec<u8>) {
    out.push(b' ');
    push_float(v, out);
}

/// Appends `k="v",…` (values escaped) for already-valid label names.
pub(super) fn push_label_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut Vec<u8>) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_label_value(v.as_bytes(), out);
        out.push(b'"');
    }
}

/// Appends `k="v",…` straight from a tag set's stored bytes (pairs in key
/// order, keys and values separated by [`TAG_SEPARATOR`]). Returns false,
/// with `out` partly written, when a key is not a label name as it is
/// (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__*`, not `le` on a histogram) and so
/// would need [`sanitize_label_name`](super::sanitize_label_name); the caller
/// then truncates `out` and renders the labels the slow way.
pub(super) fn push_raw_tag_pairs(raw: &[u8], histogram: bool, out: &mut Vec<u8>) -> bool {
    let mut rest = raw;
    let mut first = true;
    while !rest.is_empty() {
        // The key: a label name, not reserved.
        let key_len = rest
            .iter()
            .position(|&b| !LABEL_CHAR[usize::from(b)])
            .unwrap_or(rest.len());
        let (key, after) = rest.split_at(key_len);
        let Some((&TAG_SEPARATOR, value_and_rest)) = after.split_first() else {
            return false;
        };
        match key {
            [] | [b'0'..=b'9', ..] | [b'_', b'_', ..] => return false,
            b"le" if histogram => return false,
            _ => {}
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(key);
        out.extend_from_slice(b"=\"");
        // The value runs to the next separator, escaped in runs.
        let mut value = value_and_rest;
        loop {
            let run = value
                .iter()
                .position(|&b| VALUE_STOP[usize::from(b)])
                .unwrap_or(value.len());
            out.extend_from_slice(&value[..run]);
            match value.get(run) {
                Some(&b) if b != TAG_SEPARATOR => {
                    out.extend_from_slice(escaped(b));
                    value = &value[run + 1..];
                }
                _ => {
                    value = &value[run..];
                    break;
                }
            }
        }
        out.push(b'"');
        // `value` is empty or starts at the separator before the next key.
        rest = value.get(1..).unwrap_or_default();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::TagSet;

    fn float(v: f64) -> String {
        let mut out = Vec::new();
        push_float(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_match_prometheus_clients() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (7.0, "7.0"),
            (-42.0, "-42.0"),
            (1234567890.0, "1234567890.0"),
            (999_999_999_999_999.0, "999999999999999.0"),
            (1e15, "1000000000000000"),
            (-1e15, "-1000000000000000"),
            (1e20, "100000000000000000000"),
            (2.5, "2.5"),
            (-0.125, "-0.125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(float(v), want, "{v:?}");
        }
        for n in [0u64, 9, 10, 99, 100, 101, 12345, u64::MAX] {
            let mut buf = [0u8; 32];
            let start = digits_before(n, &mut buf, 32);
            assert_eq!(&buf[start..], n.to_string().as_bytes());
        }
    }

    fn raw_pairs(tags: &TagSet, histogram: bool) -> Option<String> {
        let mut out = Vec::new();
        push_raw_tag_pairs(tags.as_bytes(), histogram, &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn raw_tag_pairs_escape_values_and_refuse_keys_that_need_sanitizing() {
        let t = TagSet::from_pairs([("b", "x\"y\\z\nw ✓"), ("a", ""), ("_c9", "plain")]);
        assert_eq!(
            raw_pairs(&t, false).unwrap(),
            "_c9=\"plain\",a=\"\",b=\"x\\\"y\\\\z\\nw ✓\""
        );
        assert_eq!(raw_pairs(&TagSet::empty(), true).unwrap(), "");
        assert_eq!(
            raw_pairs(&TagSet::from_pairs([("le", "1")]), false).unwrap(),
            "le=\"1\""
        );
        for key in ["le", "__n", "9x", "a.b", "", "ü"] {
            assert_eq!(raw_pairs(&TagSet::from_pairs([(key, "v")]), true), None, "{key:?}");
        }
    }
}
