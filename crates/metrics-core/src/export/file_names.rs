//! `csv_file_stem` (and the older `sanitize_file_stem`): file names derived
//! from series names that stay inside their directory, never collide, and
//! depend on the series' own name only. Pure: nothing here touches the
//! file system.

use std::collections::HashSet;

/// The stem of the CSV export's aggregates file, kept from series.
const AGGREGATES_STEM: &str = "_aggregates";

/// Longest file stem produced, in bytes (before any suffix).
const MAX_STEM: usize = 100;

const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Turns a series name into a file stem that is safe on every common file
/// system; a function of `name` alone, so a series keeps its file name
/// whatever other series exist.
///
/// Names made only of `[a-z0-9._-]` (not starting with `.`, not a reserved
/// Windows device name, at most 100 bytes, not themselves ending like a
/// hashed stem) are kept as they are. Anything else — including any
/// upper-case letter, so that `Case` and `CASE` do not meet on a
/// case-insensitive file system — is mapped to `[A-Za-z0-9._-]` and
/// suffixed with `-` and 16 hex digits of a hash of the original name, so
/// two names that sanitize alike still get two files.
///
/// ```
/// use metrics_core::export::csv_file_stem;
/// assert_eq!(csv_file_stem("job.duration"), "job.duration");
/// assert_eq!(csv_file_stem("Case"), csv_file_stem("Case"));
/// assert_ne!(csv_file_stem("Case").to_lowercase(), csv_file_stem("CASE").to_lowercase());
/// let s = csv_file_stem("../../etc/passwd");
/// assert!(!s.contains('/') && !s.starts_with('.'));
/// assert_ne!(csv_file_stem("_aggregates"), "_aggregates"); // the export's own file
/// ```
pub fn csv_file_stem(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.starts_with('.') {
        stem.replace_range(0..1, "_");
    }
    if stem.len() > MAX_STEM {
        stem.truncate(MAX_STEM);
    }
    let device = stem.split('.').next().unwrap_or("").to_ascii_lowercase();
    if RESERVED.contains(&device.as_str()) {
        stem.insert(0, '_');
    }
    // The CSV export's own file (`_aggregates.csv`) is never a series' file.
    let ours = stem.eq_ignore_ascii_case(AGGREGATES_STEM);
    if stem.is_empty() {
        stem.push('_');
    }
    let kept = stem == name && !ours && !name.bytes().any(|b| b.is_ascii_uppercase()) && !looks_hashed(name);
    if kept {
        stem
    } else {
        format!("{stem}-{:016x}", fnv64(name))
    }
}

/// Whether `stem` ends like a hashed stem (`-` and 16 lower-case hex
/// digits): such a name is hashed too, so it cannot meet another name's
/// hashed stem.
fn looks_hashed(stem: &str) -> bool {
    let b = stem.as_bytes();
    b.len() >= 17
        && b[b.len() - 17] == b'-'
        && b[b.len() - 16..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// [`csv_file_stem`] of `name`, recorded in `used` (compared without case).
///
/// Kept for callers of earlier versions: the stem no longer depends on
/// `used`, so a series' file name does not change when another series
/// appears. `used` only collects the stems handed out.
///
/// ```
/// use std::collections::HashSet;
/// use metrics_core::export::sanitize_file_stem;
/// let mut used = HashSet::new();
/// assert_eq!(sanitize_file_stem("job.duration", &mut used), "job.duration");
/// let s = sanitize_file_stem("../../etc/passwd", &mut used);
/// assert!(!s.contains('/') && !s.starts_with('.'));
/// ```
pub fn sanitize_file_stem(name: &str, used: &mut HashSet<String>) -> String {
    let stem = csv_file_stem(name);
    used.insert(stem.to_ascii_lowercase());
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stem(name: &str) -> String {
        sanitize_file_stem(name, &mut HashSet::new())
    }

    #[test]
    fn safe_names_are_kept() {
        assert_eq!(stem("job_duration_seconds"), "job_duration_seconds");
        assert_eq!(stem("system.cpu_percent"), "system.cpu_percent");
    }

    #[test]
    fn hostile_names_stay_inside() {
        for name in [
            "../../x",
            "a/b",
            "",
            "..",
            ".",
            "CON",
            "con.txt",
            "a\\b",
            "C:x",
            &"n".repeat(10_000),
        ] {
            let s = stem(name);
            assert!(!s.is_empty(), "{name:?}");
            assert!(!s.contains(['/', '\\', ':']), "{name:?} -> {s}");
            assert!(!s.starts_with('.'), "{name:?} -> {s}");
            assert!(s.len() <= MAX_STEM + 17, "{name:?} -> {} bytes", s.len());
            assert!(
                !RESERVED.contains(&s.split('.').next().unwrap().to_ascii_lowercase().as_str()),
                "{s}"
            );
        }
    }

    #[test]
    fn names_that_sanitize_alike_differ() {
        let mut used = HashSet::new();
        let a = sanitize_file_stem("a/b", &mut used);
        let b = sanitize_file_stem("a:b", &mut used);
        let c = sanitize_file_stem("a_b", &mut used);
        let d = sanitize_file_stem("A_B", &mut used);
        let all: HashSet<String> = [&a, &b, &c, &d].iter().map(|s| s.to_ascii_lowercase()).collect();
        assert_eq!(all.len(), 4, "{a} {b} {c} {d}");
    }
}
