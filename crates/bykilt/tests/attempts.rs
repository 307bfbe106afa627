//! Issue 10, items 4 and 6 at the CLI: `batch retry` keeps the earlier
//! attempts' output, `batch status` says where each attempt's log is, and a
//! job's stdout and stderr lines keep their order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

#[test]
fn retry_keeps_every_attempts_output_and_status_points_at_it() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    let exec = "echo \"row $BYKILT_ID attempt $BYKILT_ATTEMPT\"; echo \"oops $BYKILT_ATTEMPT\" >&2; [ \"$BYKILT_ATTEMPT\" -ge 3 ]";
    let o = s.run(&[
        "batch",
        "run",
        "in.csv",
        "--exec",
        exec,
        "--retries",
        "1",
        "--retry-delay",
        "0s",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let batch_id = v["batch_id"].as_str().unwrap().to_owned();
    let r = s.run(&["batch", "retry", &batch_id, "--failed", "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));

    let st = s.run(&["batch", "status", &batch_id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    for job in v["jobs"].as_array().unwrap() {
        let id = job["row_data"]["id"].as_str().unwrap();
        let log_path = job["log"].as_str().unwrap();
        let log = std::fs::read_to_string(log_path).unwrap();
        assert_eq!(job["attempts"], 3, "{job}");
        let logs = job["attempt_logs"].as_array().unwrap();
        assert_eq!(logs.len(), 3);
        for (n, a) in (1..=3).zip(logs) {
            assert_eq!(a["log"].as_str(), Some(log_path));
            assert!(log.contains(a["header"].as_str().unwrap()), "{log}");
            let lines: Vec<&str> = log.lines().collect();
            let at = lines
                .iter()
                .position(|l| l.starts_with(&format!("--- bykilt: attempt {n} started ")))
                .unwrap_or_else(|| panic!("no header of attempt {n}: {log}"));
            assert_eq!(lines[at + 1], format!("row {id} attempt {n}"), "{log}");
            assert_eq!(lines[at + 2], format!("oops {n}"), "{log}");
        }
    }
    let st = s.run(&["batch", "status", &batch_id]);
    assert!(text(&st.stdout).contains("<job_id>.log"), "{}", text(&st.stdout));
}
