//! The files and directories an export writes get the permissions a plain
//! `File::create` / `create_dir` would give them (0o666 / 0o777 masked by
//! the umask), so other users' tools can read an export; the exclusive,
//! unpredictable temporaries it writes through change nothing about that.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use metrics_core::{MetricType, MetricsCollector, MetricsConfig};

/// Set in the child process that runs the export under a known umask.
const CHILD: &str = "METRICS_CORE_EXPORT_MODES_CHILD";

/// The permission bits of `path`, in octal as `ls -l` and `chmod` speak them.
fn mode(path: &Path) -> String {
    format!("{:o}", std::fs::metadata(path).unwrap().permissions().mode() & 0o7777)
}

fn octal(mode: u32) -> String {
    format!("{mode:o}")
}

/// Exports twice (so the CSV directory is replaced once) into a fresh
/// directory and checks every mode against `umask`.
fn export_and_check_modes(umask: u32) {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("jobs", 1.0, &[("status", "ok")], MetricType::Counter)
        .unwrap();
    let storage = tempfile::tempdir().unwrap();
    metrics_core::export_all(&c, storage.path()).unwrap();
    let paths = metrics_core::export_all(&c, storage.path()).unwrap();
    let file_mode = octal(0o666 & !umask);
    assert_eq!(mode(&paths.json), file_mode, "{}", paths.json.display());
    // The CSV files and their directory come with the `csv` feature.
    assert_eq!(paths.csv.is_empty(), cfg!(not(feature = "csv")), "{:?}", paths.csv);
    for f in &paths.csv {
        assert_eq!(mode(f), file_mode, "{}", f.display());
    }
    if cfg!(feature = "csv") {
        let csv_dir = storage.path().join("csv");
        assert_eq!(mode(&csv_dir), octal(0o777 & !umask), "{}", csv_dir.display());
    }
    // A file written over an existing one gets the same mode.
    c.export_json_to(&paths.json).unwrap();
    assert_eq!(mode(&paths.json), file_mode);
}

#[test]
fn an_export_is_readable_by_group_and_others_under_umask_022() {
    if std::env::var_os(CHILD).is_some() {
        // The shell that started this process set the umask to 022.
        export_and_check_modes(0o022);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" --exact --nocapture --test-threads=1 \"$1\"")
        .arg(exe)
        .arg("an_export_is_readable_by_group_and_others_under_umask_022")
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran the check: {text}");
}

/// The umask of this process, read without changing it (setting it to read
/// it back would race with other test threads creating files).
#[cfg(target_os = "linux")]
fn current_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn export_modes_follow_the_process_umask() {
    export_and_check_modes(current_umask());
}
