//! Issue 10, items 7–9 at the CLI: a stored run comes back whole from every
//! export format, library-made batches are handled clearly, and every
//! command accepts every form of a batch id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

/// Item 7: zero-valued series, descriptions and every CSV file of the run.
#[test]
fn a_stored_run_exports_every_series_and_description_it_saved() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(3));
    let o = s.run(&["batch", "run", "in.csv", "--exec", "true", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run_files = v["metrics"]["csv_files"].as_u64().unwrap();
    assert_eq!(run_files, 9, "one CSV per series of the run");

    let prom = s.run(&["metrics", "export", "--format", "prometheus"]);
    assert_eq!(prom.status.code(), Some(0), "{}", text(&prom.stderr));
    let prom = text(&prom.stdout);
    for needle in [
        "# HELP job_errors_total Failed job attempts, by error type",
        "# HELP jobs_in_flight Jobs running now",
        "# HELP job_retries_total Job attempts retried after an error",
        "error_type=\"timeout\"",
        "status=\"failed\"",
        "jobs_in_flight{",
    ] {
        assert!(prom.contains(needle), "{needle:?} missing:\n{prom}");
    }
    let failed_line = prom
        .lines()
        .find(|l| l.starts_with("job_status_total{") && l.contains("status=\"failed\""))
        .unwrap();
    assert!(
        failed_line.ends_with(" 0") || failed_line.ends_with(" 0.0"),
        "{failed_line}"
    );

    let om = text(&s.run(&["metrics", "export", "--format", "openmetrics"]).stdout);
    assert!(om.contains("# HELP jobs_in_flight Jobs running now"), "{om}");

    let dir = s.path().join("csv_again");
    let c = s.run(&[
        "metrics",
        "export",
        "--format",
        "csv",
        "-o",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c.stderr));
    let files: Vec<String> = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(files.len() as u64, run_files, "{files:?}");

    let json: serde_json::Value =
        serde_json::from_slice(&s.run(&["metrics", "export", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["job_errors"]["aggregates"].as_array().unwrap().len(), 4);
    assert_eq!(json["job_errors"]["description"], "Failed job attempts, by error type");
}
