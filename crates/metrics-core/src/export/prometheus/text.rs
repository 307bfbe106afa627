//! Writing the text: escaping, numbers, sample lines.

use std::fmt::Write as _;

use super::TextFormat;

pub(super) fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub(super) fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_u64(mut n: u64, out: &mut String) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Writes a float the way Prometheus clients do (`+Inf`, `NaN`, `1.0`).
fn push_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        if v < 0.0 {
            out.push('-');
        }
        push_u64(v.abs() as u64, out);
        out.push_str(".0");
    } else {
        let _ = write!(out, "{v}");
    }
}

pub(super) fn push_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    extra: Option<(&str, &str)>,
    v: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((k, val)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(val);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    push_float(v, out);
    out.push('\n');
}

pub(super) struct PointWriter<'a> {
    pub(super) name: &'a str,
    pub(super) bounds: &'a [f64],
    pub(super) format: TextFormat,
}

impl PointWriter<'_> {
    pub(super) fn histogram(
        &self,
        out: &mut String,
        labels: &str,
        cumulative: impl Iterator<Item = u64>,
        count: u64,
        sum: f64,
        negative: bool,
    ) {
        let mut le = String::new();
        for (bound, c) in self.bounds.iter().zip(cumulative) {
            le.clear();
            push_float(*bound, &mut le);
            push_sample(out, self.name, "_bucket", labels, Some(("le", &le)), c as f64);
        }
        push_sample(out, self.name, "_bucket", labels, Some(("le", "+Inf")), count as f64);
        // OpenMetrics forbids `_sum` when observations can be negative.
        if self.format == TextFormat::Prometheus || !negative {
            push_sample(out, self.name, "_sum", labels, None, sum);
        }
        push_sample(out, self.name, "_count", labels, None, count as f64);
    }
}

pub(super) fn push_label_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label_value(v, out);
        out.push('"');
    }
}
