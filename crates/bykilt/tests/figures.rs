//! Issue 10, items 10–13: throughput that says what it measures, metric
//! summaries with units, small-thing fixes, and the CSV reading flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

/// Item 10: jobs finished per second of the run's wall time.
#[test]
fn throughput_is_jobs_finished_per_second_of_run_wall_time() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(6));
    let o = s.run(&[
        "batch",
        "run",
        "in.csv",
        "-j",
        "1",
        "--exec",
        "sleep 0.05; [ $BYKILT_ID -le 3 ]",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let summary = &v["summary"];
    assert_eq!(summary["finished"], 6, "completed and failed jobs count");
    let secs = summary["run_seconds"].as_f64().unwrap();
    let t = summary["throughput_per_second"].as_f64().unwrap();
    assert!((t - 6.0 / secs).abs() < 1e-9, "{t} vs 6 / {secs}");
    let st = text(&s.run(&["batch", "status", v["batch_id"].as_str().unwrap()]).stdout);
    assert!(
        st.contains("jobs finished in") && st.contains("of run wall time, 1 run)"),
        "{st}"
    );
}

/// Item 11: units and sensible precision in text, full precision in JSON.
#[test]
fn metric_summaries_show_units_and_rounded_values() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(3));
    assert_eq!(
        s.run(&["batch", "run", "in.csv", "--exec", "true", "--quiet"])
            .status
            .code(),
        Some(0)
    );
    let o = text(&s.run(&["metrics", "summary", "job_duration_seconds"]).stdout);
    let sum = o.lines().find(|l| l.starts_with("sum")).unwrap();
    assert!(sum.ends_with("ms") || sum.ends_with("us") || sum.ends_with('s'), "{o}");
    for line in o.lines().skip(3) {
        let value = line.split_whitespace().last().unwrap();
        let digits = value.chars().filter(char::is_ascii_digit).count();
        assert!(digits <= 6, "{line}");
    }
    let j: serde_json::Value =
        serde_json::from_slice(&s.run(&["metrics", "summary", "job_duration_seconds", "--json"]).stdout).unwrap();
    let exact = j["summary"]["sum"].as_f64().unwrap();
    let export: serde_json::Value =
        serde_json::from_slice(&s.run(&["metrics", "export", "--format", "json"]).stdout).unwrap();
    let total: f64 = export["job_duration_seconds"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_f64().unwrap())
        .sum();
    assert!(
        (exact - total).abs() < 1e-12,
        "--json keeps full precision: {exact} vs {total}"
    );
}

/// Item 12: empty command, zero timeout, singular attempt, RFC 3339 in
/// JSON, exports into missing directories.
#[test]
fn small_things() {
    let s = Sandbox::new();
    s.write("in.csv", b"a\n1\n");
    let o = s.run(&["batch", "run", "in.csv", "--exec", ""]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--exec") && text(&o.stderr).contains("empty"),
        "{}",
        text(&o.stderr)
    );
    let o = s.run(&["batch", "run", "in.csv", "--exec", "true", "--timeout", "0s"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("--timeout") && !err.contains("job_timeout"), "{err}");
    assert!(batch_engine::list_batches(&s.root()).unwrap().is_empty());

    let o = s.run(&["batch", "run", "in.csv", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("(1 attempt)") && !out.contains("1 attempts"), "{out}");

    let list: serde_json::Value = serde_json::from_slice(&s.run(&["batch", "list", "--json"]).stdout).unwrap();
    let created = list[0]["created_at"].as_str().expect("an RFC 3339 string");
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).unwrap();

    for (format, target) in [
        ("json", "a/b/m.json"),
        ("prometheus", "c/d/m.prom"),
        ("openmetrics", "e/m.om"),
        ("csv", "f/g"),
    ] {
        let path = s.path().join(target);
        let o = s.run(&["metrics", "export", "--format", format, "-o", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", text(&o.stderr));
        assert!(path.exists(), "{format}");
    }
}

/// Item 13: `--delimiter`, `--max-file-size` and `--allowed-root`.
#[test]
fn csv_reading_flags() {
    let s = Sandbox::new();
    s.write("pipe.csv", b"a|b\n1|x,y\n");
    let o = s.run(&[
        "batch",
        "run",
        "pipe.csv",
        "--delimiter",
        "|",
        "--exec",
        "[ \"$BYKILT_B\" = x,y ]",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = s.run(&["batch", "run", "pipe.csv", "--max-file-size", "5", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("limit of 5 bytes"), "{}", text(&o.stderr));
    std::fs::create_dir_all(s.path().join("inputs")).unwrap();
    let o = s.run(&["batch", "run", "pipe.csv", "--allowed-root", "inputs", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("outside the allowed input root"),
        "{}",
        text(&o.stderr)
    );
    let o = s.run(&["batch", "run", "pipe.csv", "--delimiter", "ab", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--delimiter"), "{}", text(&o.stderr));
}
