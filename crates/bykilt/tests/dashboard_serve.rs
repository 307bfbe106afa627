//! `bykilt serve` of a finished run: the dashboard page at `/` and the runs
//! it lists at `/api/runs`, read from the artifacts root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Sandbox, text};
use test_support::{Killed, free_port, http_get, poll};

#[test]
fn serve_lists_every_run_with_counts_and_marks_the_served_one() {
    let s = Sandbox::new();
    let mut ids = Vec::new();
    for csv in ["a.csv", "b.csv"] {
        s.write(csv, &common::numbered_csv(6));
        let out = s.run(&[
            "batch",
            "run",
            csv,
            "--exec",
            "test \"$BYKILT_ROW_INDEX\" -ne 2",
            "--quiet",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push(v["run_id"].as_str().unwrap().to_owned());
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = Killed(s.spawn(&["serve", "--listen", &listen, "--run", &ids[0]]));
    let base = format!("http://{listen}");
    let page = poll(Duration::from_secs(20), || http_get(&format!("{base}/"))).expect("serve is up");
    assert!(page.contains("<title>bykilt metrics</title>"), "{page}");
    let runs: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/runs")).unwrap()).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(
            (r["total"].as_u64(), r["completed"].as_u64(), r["failed"].as_u64()),
            (Some(6), Some(5), Some(1))
        );
        assert_eq!(r["finished"], 6);
        assert_eq!(r["live"], false, "nothing executes in a `bykilt serve` process");
        assert!(r["eta_seconds"].is_null());
        assert!(r["duration_seconds"].as_f64().unwrap() >= 0.0);
        assert!(r["throughput_per_second"].as_f64().unwrap() > 0.0);
        assert_eq!(r["served"], r["run_id"] == ids[0].as_str());
    }
    let one: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{base}/api/runs/{}", ids[1])).unwrap()).unwrap();
    assert_eq!(one["run_id"], ids[1].as_str());
    // The overview holds the served run's series only.
    let ov: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{base}/api/metrics/overview")).unwrap()).unwrap();
    let job = ov["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "job_duration_seconds")
        .unwrap();
    assert_eq!(job["samples"], 6);
    assert_eq!(job["tag_sets"][0]["tags"]["run_id"], ids[0].as_str());
}

/// Issue 10 item 10 on the dashboard: `/api/runs` reports the throughput
/// `batch status` prints — jobs finished per second of the wall time of the
/// processes that ran them (every run summed), not first start to last end.
#[test]
fn runs_throughput_is_the_batch_status_figure() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(4));
    let first = s.run(&[
        "batch",
        "run",
        "in.csv",
        "-j",
        "1",
        "--exec",
        "sleep 0.05; [ $BYKILT_ID -le 2 ]",
        "--quiet",
        "--json",
    ]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let batch_id = v["batch_id"].as_str().unwrap().to_owned();
    // A second run of the same batch: its time adds to the first's.
    let again = s.run(&["batch", "retry", &batch_id, "--failed", "--exec", "true", "--quiet"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let st = s.run(&["batch", "status", &batch_id, "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let summary = &st["summary"];
    assert_eq!(summary["runs"], 2, "{summary}");

    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = Killed(s.spawn(&["serve", "--listen", &listen]));
    let base = format!("http://{listen}");
    let runs = poll(Duration::from_secs(20), || http_get(&format!("{base}/api/runs"))).expect("serve is up");
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    let r = &runs.as_array().unwrap()[0];
    assert_eq!(r["finished"], 4);
    let (api_secs, status_secs) = (
        r["run_seconds"].as_f64().unwrap(),
        summary["run_seconds"].as_f64().unwrap(),
    );
    assert!((api_secs - status_secs).abs() < 1e-9, "{api_secs} vs {status_secs}");
    let (api_rate, status_rate) = (
        r["throughput_per_second"].as_f64().unwrap(),
        summary["throughput_per_second"].as_f64().unwrap(),
    );
    assert!((api_rate - status_rate).abs() < 1e-9, "{api_rate} vs {status_rate}");
    assert!((api_rate - 4.0 / status_secs).abs() < 1e-9);
    // Not the first-start-to-last-end figure.
    let span = r["duration_seconds"].as_f64().unwrap();
    assert!(
        (api_rate - 4.0 / span).abs() > 1e-6,
        "{api_rate} is 4 / {span}, the job span"
    );
    let page = http_get(&format!("{base}/dashboard/app.js")).unwrap_or_default();
    assert!(
        page.contains("jobs finished per second of run wall time"),
        "the page labels it"
    );
}

/// The same figure while a run executes in the serving process
/// (`batch run --serve`): its run time counts to now, so `/api/runs` says
/// `finished / run_seconds` for the live run too.
#[test]
fn live_run_throughput_is_over_its_run_time_so_far() {
    let s = Sandbox::new();
    // ~20 s of jobs, so the run is live whenever the poll comes; the test
    // ends it.
    s.write("in.csv", &common::numbered_csv(200));
    let listen = format!("127.0.0.1:{}", free_port());
    let _run = Killed(s.spawn(&[
        "batch",
        "run",
        "in.csv",
        "-j",
        "1",
        "--exec",
        "sleep 0.1",
        "--quiet",
        "--serve",
        &listen,
    ]));
    let base = format!("http://{listen}");
    let live = poll(Duration::from_secs(30), || {
        let runs: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/runs"))?).ok()?;
        let r = runs.as_array()?.iter().find(|r| r["live"] == true)?.clone();
        (r["finished"].as_u64()? >= 3).then_some(r)
    })
    .expect("a live run with finished jobs");
    let secs = live["run_seconds"].as_f64().unwrap();
    assert!(secs > 0.0, "{live}");
    let rate = live["throughput_per_second"].as_f64().unwrap();
    let finished = live["finished"].as_f64().unwrap();
    assert!((rate - finished / secs).abs() < 1e-9, "{live}");
    // Each job sleeps 0.1 s, one at a time: at most about 10 a second.
    assert!(rate > 0.0 && rate < 11.0, "{live}");
}

/// A run executing in another process (a second `bykilt batch run` in the
/// same root) has written no `metrics.json` yet: its run time counts from its
/// first job start to now, so it has a throughput and an ETA.
#[test]
fn run_in_another_process_has_its_time_so_far_and_an_eta() {
    let s = Sandbox::new();
    s.write("done.csv", &common::numbered_csv(2));
    let done = s.run(&["batch", "run", "done.csv", "--exec", "true", "--quiet", "--json"]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let done: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    let served = done["run_id"].as_str().unwrap().to_owned();
    // ~30 s of jobs: still open when the poll comes; the test ends it.
    s.write("slow.csv", &common::numbered_csv(300));
    let _other = Killed(s.spawn(&["batch", "run", "slow.csv", "-j", "1", "--exec", "sleep 0.1", "--quiet"]));
    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = Killed(s.spawn(&["serve", "--listen", &listen, "--run", &served]));
    let base = format!("http://{listen}");
    let other = poll(Duration::from_secs(30), || {
        let runs: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/runs"))?).ok()?;
        let r = runs
            .as_array()?
            .iter()
            .find(|r| r["run_id"] != served.as_str())?
            .clone();
        (r["open"] == true && r["finished"].as_u64()? >= 3).then_some(r)
    })
    .expect("the other process's run, open, with finished jobs");
    assert_eq!(other["live"], false, "{other}");
    let secs = other["run_seconds"].as_f64().expect("run time so far");
    assert!(secs > 0.0, "{other}");
    let rate = other["throughput_per_second"].as_f64().expect("a throughput");
    assert!(
        (rate - other["finished"].as_f64().unwrap() / secs).abs() < 1e-9,
        "{other}"
    );
    assert!(other["eta_seconds"].as_f64().expect("an ETA") > 0.0, "{other}");
}
