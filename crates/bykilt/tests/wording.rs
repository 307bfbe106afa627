//! Issue 10 item 12 and issue 15 at the CLI, as a new user reads them:
//! counts in the singular for one, errors that name the flag (not an
//! engine field) and the bad value, size flags that take units, and a
//! summary of an unknown metric that says it is unknown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

/// One job, one run: `batch status` says "1 job finished", "1 run" — never
/// "1 jobs" — and its metrics row counts files the same way.
#[test]
fn one_job_reads_in_the_singular() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(1));
    let o = s.run(&["batch", "run", "in.csv", "--exec", "true", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let st = text(&s.run(&["batch", "status", v["batch_id"].as_str().unwrap()]).stdout);
    assert!(st.contains("(1 job finished in "), "{st}");
    assert!(st.contains("of run wall time, 1 run)"), "{st}");
    assert!(st.contains("(1 attempt)"), "{st}");
    // A count of one, not the end of a number such as "237.1 jobs/s".
    let counts_one = |wrong: &str| {
        st.match_indices(wrong)
            .any(|(at, _)| !st[..at].ends_with(|c: char| c.is_ascii_digit() || c == '.'))
    };
    for wrong in ["1 jobs", "1 runs", "1 attempts", "1 files"] {
        assert!(!counts_one(wrong), "{wrong:?} in {st}");
    }
    // Two jobs are plural again.
    s.write("two.csv", &common::numbered_csv(2));
    let o = s.run(&["batch", "run", "two.csv", "--exec", "true", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let st = text(&s.run(&["batch", "status", v["batch_id"].as_str().unwrap()]).stdout);
    assert!(st.contains("(2 jobs finished in "), "{st}");
}

/// A file over `--max-file-size` is refused with the flag's name, the
/// limit, and a value that would admit it.
#[test]
fn too_large_input_names_the_max_file_size_flag() {
    let s = Sandbox::new();
    s.write("in.csv", b"a,b\n1,2\n");
    let o = s.run(&["batch", "run", "in.csv", "--max-file-size", "5", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("--max-file-size limit of 5 bytes"), "{err}");
    assert!(err.contains("e.g. --max-file-size 8"), "{err}");
    assert!(!err.contains("max_file_size"), "an engine field name: {err}");
    // The suggested value works.
    let o = s.run(&[
        "batch",
        "run",
        "in.csv",
        "--max-file-size",
        "8",
        "--exec",
        "true",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    std::fs::create_dir_all(s.path().join("inputs")).unwrap();
    let o = s.run(&["batch", "run", "in.csv", "--allowed-root", "inputs", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("(--allowed-root)"), "{}", text(&o.stderr));
}

/// `--log-limit` takes the sizes `--max-file-size` does, and a bad one is
/// refused naming the flag and the value.
#[test]
fn log_limit_takes_sizes_with_units() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(1));
    // 2K of output under a 1K cap: the log keeps at most about 1K of it.
    let exec = "head -c 2048 /dev/zero | tr '\\0' x; echo";
    let o = s.run(&["batch", "run", "in.csv", "--log-limit", "1K", "--exec", exec, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let st = s.run(&["batch", "status", v["batch_id"].as_str().unwrap(), "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let log = std::fs::read_to_string(st["jobs"][0]["log"].as_str().unwrap()).unwrap();
    let xs = log.bytes().filter(|b| *b == b'x').count();
    assert!(
        xs > 0 && xs <= 1024,
        "{xs} bytes of output kept under --log-limit 1K: {log}"
    );

    let o = s.run(&[
        "batch",
        "run",
        "in.csv",
        "--log-limit",
        "1M",
        "--exec",
        "true",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = s.run(&["batch", "run", "in.csv", "--log-limit", "1X", "--exec", "true"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("--log-limit") && err.contains("1X"), "{err}");
    assert!(!err.contains("invalid digit"), "{err}");
}

/// A metric no run recorded: the error says so and names it, with the
/// close names the database has; not "no samples matching --tag/--since".
#[test]
fn summary_of_an_unknown_metric_says_it_does_not_exist() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    let o = s.run(&["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    let o = s.run(&["metrics", "summary", "nosuch", "--all-runs"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("no metric \"nosuch\""), "{err}");
    assert!(!err.contains("--tag/--since"), "{err}");

    let o = s.run(&["metrics", "summary", "job_duraton_seconds", "--all-runs"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("no metric \"job_duraton_seconds\""), "{err}");
    assert!(err.contains("did you mean: job_duration_seconds"), "{err}");

    // The metric exists: a filter that matches nothing still says so.
    let o = s.run(&[
        "metrics",
        "summary",
        "job_duration_seconds",
        "--all-runs",
        "--tag",
        "status=nosuch",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("has no samples matching --tag status=nosuch"), "{err}");
    assert!(!err.contains("--since"), "only the filters given: {err}");

    // A series kept as an aggregate only, and no filter: none is named.
    let o = s.run(&["metrics", "summary", "jobs_in_flight", "--all-runs"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("\"jobs_in_flight\" has no samples"), "{err}");
    assert!(!err.contains("--tag") && !err.contains("matching"), "{err}");
}
