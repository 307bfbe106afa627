//! The CLI end to end: exit codes, bad input, JSON output, hostile values,
//! status/list/retry and the metrics commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

#[test]
fn exit_code_0_when_every_job_completes_and_1_when_one_fails() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(5));
    let ok = s.run(&["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let out = text(&ok.stdout);
    assert!(out.contains("5 total: 5 completed, 0 failed"), "{out}");
    assert!(out.contains("metrics.json"), "metrics paths are printed: {out}");

    let bad = s.run(&["batch", "run", "in.csv", "--exec", "[ \"$BYKILT_ID\" != 3 ]", "--quiet"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let out = text(&bad.stdout);
    assert!(
        out.contains("4 completed, 1 failed") && out.contains("exited with code 1"),
        "{out}"
    );
}

#[test]
fn exit_code_2_for_bad_usage_and_bad_input() {
    let s = Sandbox::new();
    s.write("ragged.csv", b"a,b\n1,2\n3\n");
    s.write("in.csv", b"a\n1\n");
    s.write("clash.csv", b"first name,First-Name\n1,2\n");
    let cases: &[(&[&str], &str)] = &[
        (&["batch", "run", "clash.csv", "--exec", "true"], "BYKILT_FIRST_NAME"),
        (&["batch", "run", "in.csv"], "--exec"),
        (
            &["batch", "run", "missing.csv", "--exec", "true"],
            "missing.csv: no such file",
        ),
        (
            &["batch", "run", "ragged.csv", "--exec", "true"],
            "ragged.csv:3: row has 1 fields, the header has 2",
        ),
        (
            &["batch", "run", "in.csv", "--exec", "true", "--concurrency", "0"],
            "concurrency",
        ),
        (
            &["batch", "run", "in.csv", "--exec", "true", "--timeout", "soon"],
            "\"soon\"",
        ),
        (&["batch", "status", "../etc"], "malformed"),
        (&["batch", "resume", "batch-20990101-000000-000000-0000"], "not found"),
        (&["batch", "retry", "batch-x"], "--failed"),
        (&["metrics", "summary", "job_status"], "no run with metrics"),
        (&["metrics", "export", "--format", "xml"], "xml"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(needle), "{args:?}: {}", text(&o.stderr));
    }
    // Rejected options create nothing.
    assert!(batch_engine::list_batches(&s.root()).unwrap().is_empty());
}

#[test]
fn hostile_values_reach_the_command_unchanged() {
    let s = Sandbox::new();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "v"]).unwrap();
    for (i, v) in ["$(touch pwned)", "'; touch pwned2 #", "a\nb", "x\" ; touch pwned3 ; \""]
        .iter()
        .enumerate()
    {
        w.write_record([&i.to_string(), *v]).unwrap();
    }
    s.write("h.csv", &w.into_inner().unwrap());
    let o = s.run(&[
        "batch",
        "run",
        "h.csv",
        "--exec",
        "printf '%s' \"$BYKILT_V\" > \"out_$BYKILT_ID\"",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for (i, v) in ["$(touch pwned)", "'; touch pwned2 #", "a\nb", "x\" ; touch pwned3 ; \""]
        .iter()
        .enumerate()
    {
        assert_eq!(std::fs::read(s.path().join(format!("out_{i}"))).unwrap(), v.as_bytes());
    }
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!s.path().join(f).exists(), "{f} was created");
    }
}

#[test]
fn json_status_list_retry_and_metrics() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(4));
    let o = s.run(&["batch", "run", "in.csv", "--exec", "[ \"$BYKILT_ID\" -le 2 ]", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["exit_code"], 1);
    assert_eq!(
        (v["summary"]["completed"].as_u64(), v["summary"]["failed"].as_u64()),
        (Some(2), Some(2))
    );
    let batch_id = v["batch_id"].as_str().unwrap().to_owned();
    let failed_rows = std::fs::read_to_string(v["summary"]["failed_rows_csv"].as_str().unwrap()).unwrap();
    assert_eq!(failed_rows, "id,word\n3,w3\n4,w4\n");

    let list: serde_json::Value = serde_json::from_slice(&s.run(&["batch", "list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["batch_id"], batch_id.as_str());

    let st = s.run(&["batch", "status", &batch_id]);
    assert_eq!(st.status.code(), Some(1));
    assert!(text(&st.stdout).contains("job duration"), "{}", text(&st.stdout));

    let r = s.run(&["batch", "retry", &batch_id, "--failed", "--exec", "true", "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let st = s.run(&["batch", "status", &batch_id, "--json"]);
    assert_eq!(st.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["summary"]["completed"], 4);
    assert!(v["summary"]["failed_rows_csv"].is_null());

    // The run's metrics, merged across the run and the retry.
    let m = s.run(&[
        "metrics",
        "summary",
        "job_status",
        "--tag",
        "status=completed",
        "--since",
        "1h",
        "--json",
    ]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m.stderr));
    let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(v["summary"]["sum"], 4.0);
    let d = s.run(&[
        "metrics",
        "summary",
        "job_duration_seconds",
        "--since",
        "99999999999d",
        "--json",
    ]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d.stderr));
    let v: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(v["summary"]["count"], 6, "4 first attempts + 2 retried");

    let e = s.run(&["metrics", "export", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(v["batch_created"]["type"], "counter");
    let dir = s.path().join("csv_out");
    let c = s.run(&[
        "metrics",
        "export",
        "--format",
        "csv",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(c.status.code(), Some(0));
    assert!(dir.join("job_duration_seconds.csv").exists(), "{}", text(&c.stdout));
}

#[test]
fn artifacts_root_comes_from_the_environment_without_the_flag() {
    let s = Sandbox::new();
    s.write("in.csv", b"a\n1\n");
    let env_root = s.path().join("from_env");
    let o = std::process::Command::new(common::BIN)
        .args(["batch", "run", "in.csv", "--exec", "true", "--quiet"])
        .current_dir(s.path())
        .env("BYKILT_ARTIFACTS_DIR", &env_root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(batch_engine::list_batches(&env_root).unwrap().len(), 1);
    assert!(!s.path().join("artifacts").exists());
}
