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
    // Without the database: its writer adds three self-metric series of its own.
    let o = s.run(&["batch", "run", "in.csv", "--exec", "true", "--json", "--no-db"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run_files = v["metrics"]["csv_files"].as_u64().unwrap();
    assert_eq!(run_files, 10, "one CSV per series of the run, and _aggregates.csv");

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

/// A batch made through the library, as the `batch_processing` example
/// does, with its metrics exported (or not) into the run directory.
fn library_batch(s: &Sandbox, with_metrics: bool) -> String {
    use std::sync::Arc;
    let csv = s.write("lib.csv", b"n\n1\n2\n");
    let ctx = batch_engine::RunContext::new(s.root());
    let collector = Arc::new(metrics_core::MetricsCollector::default());
    let engine = batch_engine::BatchEngine::new(ctx.clone()).with_collector(Arc::clone(&collector));
    let m = engine.create_batch_jobs(&csv).unwrap();
    let fail_second = |j: &batch_engine::JobContext<'_>| -> Result<(), batch_engine::JobError> {
        if j.row_index == 1 {
            Err(batch_engine::JobError::runner("no"))
        } else {
            Ok(())
        }
    };
    engine
        .execute_batch(&m.batch_id, &fail_second, &batch_engine::ExecuteOptions::default())
        .unwrap();
    engine.close_batch(&m.batch_id).unwrap();
    if with_metrics {
        collector
            .export_json_to(ctx.artifact_dir("metrics").unwrap().join("metrics.json"))
            .unwrap();
    }
    m.batch_id
}

/// Item 8: library batches are listed as such, resume with `--exec`, and
/// say clearly what to do without it; `metrics summary` reads the latest
/// run that has metrics.
#[test]
fn library_batches_resume_with_exec_and_say_why_not_without() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    let cli_run = s.run(&["batch", "run", "in.csv", "--exec", "true", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&cli_run.stdout).unwrap();
    let cli_batch = v["batch_id"].as_str().unwrap().to_owned();
    let lib_batch = library_batch(&s, true);

    let list = text(&s.run(&["batch", "list"]).stdout);
    let lib_line = list.lines().find(|l| l.starts_with(&lib_batch)).unwrap();
    assert!(lib_line.contains(" none "), "{list}");
    assert!(list.contains("--exec"), "{list}");

    for args in [
        vec!["batch", "resume", lib_batch.as_str()],
        vec!["batch", "retry", lib_batch.as_str(), "--failed"],
    ] {
        let o = s.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o.stderr);
        assert!(!err.contains("No such file"), "{err}");
        assert!(
            err.contains("--exec") && err.contains("library") && err.contains(&cli_batch),
            "{err}"
        );
    }
    let o = s.run(&["batch", "retry", &lib_batch, "--failed", "--exec", "true", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // A newer run without metrics does not hide the latest one with metrics.
    let no_metrics = library_batch(&s, false);
    let m = s.run(&["metrics", "summary", "job_status", "--json"]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m.stderr));
    let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(format!("batch-{}", v["run_id"].as_str().unwrap()), lib_batch);
    assert_ne!(lib_batch, no_metrics);
}

/// Item 9: `batch-<run_id>`, `<run_id>` and unambiguous prefixes work in
/// every command; unknown ids list the closest; ambiguous prefixes list the
/// matches.
#[test]
fn every_command_accepts_every_form_of_a_batch_id() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    let o = s.run(&["batch", "run", "in.csv", "--exec", "[ $BYKILT_ID = 1 ]", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let batch_id = v["batch_id"].as_str().unwrap().to_owned();
    let run_id = v["run_id"].as_str().unwrap().to_owned();
    let prefix = &run_id[..run_id.len() - 3];
    for form in [
        batch_id.clone(),
        run_id.clone(),
        prefix.to_owned(),
        format!("batch-{prefix}"),
    ] {
        let st = s.run(&["batch", "status", &form, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
        assert_eq!(
            v["summary"]["batch_id"],
            batch_id.as_str(),
            "{form}: {}",
            text(&st.stderr)
        );
        let m = s.run(&["metrics", "summary", "job_status", "--run", &form, "--json"]);
        assert_eq!(m.status.code(), Some(0), "{form}: {}", text(&m.stderr));
    }
    let r = s.run(&["batch", "retry", prefix, "--job", "2", "--exec", "true", "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let r = s.run(&["batch", "resume", &run_id, "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));

    // A near miss lists the closest ids; no "has no metrics" for a run that does not exist.
    let typo = format!("{}x", &run_id[..run_id.len() - 1]);
    for args in [
        vec!["batch", "status", typo.as_str()],
        vec!["batch", "resume", typo.as_str()],
        vec!["metrics", "summary", "job_status", "--run", typo.as_str()],
        vec!["metrics", "export", "--format", "json", "--run", typo.as_str()],
    ] {
        let o = s.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o.stderr);
        assert!(err.contains("not found") && err.contains(&batch_id), "{args:?}: {err}");
        assert!(!err.contains("has no metrics"), "{err}");
    }
    // Two runs share the prefix "20": ambiguous, naming both.
    let second = library_batch(&s, false);
    let o = s.run(&["batch", "status", "20"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("ambiguous") && err.contains(&batch_id) && err.contains(&second),
        "{err}"
    );
}
