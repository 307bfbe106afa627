//! Exports into a directory someone else can write to: planted symlinks,
//! temporaries left by a killed export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use metrics_core::{MetricType, MetricsCollector, MetricsConfig};

fn collector() -> MetricsCollector {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("jobs", 1.0, &[("status", "ok")], MetricType::Counter)
        .unwrap();
    c
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn gone_within_10_s(path: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::symlink_metadata(path).is_ok() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn symlinks_planted_at_temporary_names_do_not_redirect_an_export() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("metrics.json");
    // Every name the old scheme `.{name}.tmp-{pid}-{seq}` could pick.
    for seq in 0..256 {
        let planted = dir
            .path()
            .join(format!(".metrics.json.tmp-{}-{seq}", std::process::id()));
        std::os::unix::fs::symlink(&victim, planted).unwrap();
    }
    let c = collector();
    c.export_json_to(&target).unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious",
        "the export wrote through a planted symlink"
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.contains("\"jobs\""), "{written}");
    assert!(!std::fs::symlink_metadata(&target).unwrap().file_type().is_symlink());
}

#[cfg(all(unix, feature = "csv"))]
#[test]
fn a_symlink_planted_in_the_csv_directory_is_refused_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv_dir = dir.path().join("csv");
    std::fs::create_dir(&csv_dir).unwrap();
    std::os::unix::fs::symlink(&victim, csv_dir.join("jobs.csv")).unwrap();
    let c = collector();
    // A link is nothing an export wrote: the directory is refused, named.
    let err = c.export_to_csv(&csv_dir).unwrap_err();
    assert!(err.to_string().contains("jobs.csv"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    // Once the link is gone, the export goes through.
    std::fs::remove_file(csv_dir.join("jobs.csv")).unwrap();
    let paths = c.export_to_csv(&csv_dir).unwrap();
    assert_eq!(paths, vec![csv_dir.join("jobs.csv"), csv_dir.join("_aggregates.csv")]);
    assert!(!std::fs::symlink_metadata(&paths[0]).unwrap().file_type().is_symlink());
}

#[test]
fn temporaries_of_a_killed_export_are_removed_by_the_next_export() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_pid();
    let stale_file = dir.path().join(format!(".metrics.json.tmp-{dead}-AbCdEfGhIj"));
    std::fs::write(&stale_file, b"half an export").unwrap();
    let stale_dir = dir.path().join(format!(".csv.tmp-{dead}-KlMnOpQrSt"));
    std::fs::create_dir(&stale_dir).unwrap();
    std::fs::write(stale_dir.join("jobs.csv"), b"timestamp,value\n").unwrap();
    // Temporaries of a live process (this one) and other dot files stay.
    let live = dir
        .path()
        .join(format!(".metrics.json.tmp-{}-AbCdEfGhIj", std::process::id()));
    std::fs::write(&live, b"in progress").unwrap();
    std::fs::write(dir.path().join(".keep"), b"").unwrap();

    let c = collector();
    metrics_core::export_all(&c, dir.path()).unwrap();
    let names = names_in(dir.path());
    assert!(!stale_file.exists(), "{names:?}");
    // Directories are removed in the background.
    assert!(gone_within_10_s(&stale_dir), "{names:?}");
    assert!(live.exists(), "{names:?}");
    assert!(dir.path().join(".keep").exists(), "{names:?}");
    assert!(dir.path().join("metrics.json").exists());
}

#[cfg(unix)]
#[test]
fn a_stale_temporary_that_is_a_symlink_is_removed_without_touching_its_target() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), b"precious").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join(format!(".metrics.json.tmp-{}-zzzzzzzzzz", dead_pid()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    collector().export_json_to(dir.path().join("metrics.json")).unwrap();
    assert!(std::fs::symlink_metadata(&planted).is_err(), "the stale link is gone");
    assert_eq!(std::fs::read(victim.join("keep.txt")).unwrap(), b"precious");
}
