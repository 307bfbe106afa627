//! A CSV export is one set of files: names that depend on each series' own
//! name only, and a directory replaced as a whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use metrics_core::export::csv::AGGREGATES_FILE;
use metrics_core::export::csv_file_stem;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig, MetricsError};

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn with_series(names: &[&str]) -> MetricsCollector {
    let c = MetricsCollector::new(MetricsConfig::default());
    for n in names {
        c.record_metric(n, 1.0, &[], MetricType::Gauge).unwrap();
    }
    c
}

#[test]
fn a_series_file_name_does_not_depend_on_other_series() {
    let alone = tempfile::tempdir().unwrap();
    let both = tempfile::tempdir().unwrap();
    let a = with_series(&["Case"]).export_to_csv(alone.path()).unwrap();
    let b = with_series(&["Case", "CASE"]).export_to_csv(both.path()).unwrap();
    let name_of = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let case_alone = name_of(&a[0]);
    let names_both: Vec<String> = b.iter().map(|p| name_of(p)).collect();
    assert!(names_both.contains(&case_alone), "{case_alone} vs {names_both:?}");
    let lower: BTreeSet<String> = names_both.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(
        lower.len(),
        3, // the two series' files and _aggregates.csv
        "Case and CASE meet on a case-insensitive file system: {names_both:?}"
    );
    assert_eq!(format!("{}.csv", csv_file_stem("Case")), case_alone);
}

#[test]
fn stems_are_stable_safe_and_distinct_for_lookalike_names() {
    let names = [
        "a/b",
        "a:b",
        "a_b",
        "A_B",
        "a_b-2",
        "x",
        "x-0123456789abcdef",
        "Case",
        "CASE",
        "case",
    ];
    let stems: Vec<String> = names.iter().map(|n| csv_file_stem(n)).collect();
    let distinct: BTreeSet<String> = stems.iter().map(|s| s.to_lowercase()).collect();
    assert_eq!(distinct.len(), names.len(), "{stems:?}");
    assert_eq!(csv_file_stem("a_b"), "a_b", "safe names are kept");
    assert_eq!(csv_file_stem("case"), "case");
    for (n, s) in names.iter().zip(&stems) {
        assert_eq!(&csv_file_stem(n), s, "a function of the name");
        assert!(!s.starts_with('.') && !s.contains(['/', '\\', ':']), "{s}");
    }
}

#[test]
fn one_export_replaces_the_files_of_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let c = with_series(&["kept", "removed"]);
    c.export_to_csv(dir.path()).unwrap();
    assert_eq!(
        file_names(dir.path()),
        BTreeSet::from([AGGREGATES_FILE.into(), "kept.csv".into(), "removed.csv".into()])
    );
    c.remove_series("removed");
    c.record_metric("added", 2.0, &[], MetricType::Gauge).unwrap();
    let paths = c.export_to_csv(dir.path()).unwrap();
    assert_eq!(
        file_names(dir.path()),
        BTreeSet::from([AGGREGATES_FILE.into(), "added.csv".into(), "kept.csv".into()])
    );
    assert_eq!(
        paths,
        vec![
            dir.path().join("added.csv"),
            dir.path().join("kept.csv"),
            dir.path().join(AGGREGATES_FILE)
        ]
    );
    // Nothing is left beside the directory either: a small previous export
    // (moved aside) is deleted before the call returns, so a program that
    // exits right after exporting leaves no hidden copy behind.
    let parent = dir.path().parent().unwrap();
    let ours = format!(".{}.tmp-", dir.path().file_name().unwrap().to_string_lossy());
    let leftovers = || -> Vec<String> {
        file_names(parent)
            .into_iter()
            .filter(|n| n.starts_with(&ours))
            .collect()
    };
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn a_directory_holding_other_files_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    std::fs::write(dir.path().join("old.csv"), b"timestamp,value\n").unwrap();
    let err = with_series(&["m"]).export_to_csv(dir.path()).unwrap_err();
    assert!(matches!(err, MetricsError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(
        file_names(dir.path()),
        BTreeSet::from(["notes.txt".into(), "old.csv".into()])
    );
    assert_eq!(std::fs::read(dir.path().join("notes.txt")).unwrap(), b"mine");
}

#[test]
fn a_reader_never_sees_files_of_two_exports_at_once() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("csv");
    let first: Vec<String> = (0..20).map(|i| format!("first_{i}")).collect();
    let second: Vec<String> = (0..20).map(|i| format!("second_{i}")).collect();
    let a = with_series(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let b = with_series(&second.iter().map(String::as_str).collect::<Vec<_>>());
    a.export_to_csv(&dir).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mixes = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut mixes = Vec::new();
            let mut listings = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || listings == 0 {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                let names: BTreeSet<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                listings += 1;
                let firsts = names.iter().filter(|n| n.starts_with("first_")).count();
                let seconds = names.iter().filter(|n| n.starts_with("second_")).count();
                // A listing that began on the previous export may see it
                // shrink as it is deleted; it never sees files of both.
                if firsts > 0 && seconds > 0 {
                    mixes.push((firsts, seconds));
                }
            }
            mixes
        });
        for round in 0..30 {
            let c = if round % 2 == 0 { &b } else { &a };
            c.export_to_csv(&dir).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(
        mixes.is_empty(),
        "listings with (first, second) files: {:?}",
        &mixes[..mixes.len().min(10)]
    );
}

/// Between two exports the directory is swapped, not removed and renamed:
/// a reader polling a file every export writes always finds one.
#[cfg(target_os = "linux")]
#[test]
fn a_reader_always_finds_an_export_during_re_exports() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("csv");
    let aggregates = dir.join(AGGREGATES_FILE);
    let c = with_series(&["jobs", "queue_depth"]);
    c.export_to_csv(&dir).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (polls, misses) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut polls, mut misses) = (0_u64, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || polls == 0 {
                polls += 1;
                match std::fs::symlink_metadata(&aggregates) {
                    Ok(_) => {}
                    Err(e) => misses.push(e.kind()),
                }
            }
            (polls, misses)
        });
        for _ in 0..200 {
            c.export_to_csv(&dir).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(
        misses.is_empty(),
        "{} of {polls} polls found no {AGGREGATES_FILE}: {:?}",
        misses.len(),
        &misses[..misses.len().min(10)]
    );
}
