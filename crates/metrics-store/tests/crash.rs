//! Crash safety: a process ingesting continuously is killed with SIGKILL at
//! random moments, ten times. After each kill the database opens,
//! `PRAGMA integrity_check` (the sqlite3 shell) says `ok`, and every sample
//! the child's last reported flush covered is there.
//!
//! The child is this test binary run again with `CRASH_CHILD_DB` set: it
//! records sample values 0, 1, 2, ... from one thread and prints each
//! flush's high-water mark (samples committed so far) on its stdout pipe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use metrics_core::{MetricType, MetricsCollector};
use metrics_store::{MetricsStore, RunFilter, RunInfo, SampleQuery, StoreOptions, StoreReader};

const CHILD_ENV: &str = "CRASH_CHILD_DB";

#[test]
fn crash_child_ingests_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let run_name = std::env::var("CRASH_CHILD_RUN").unwrap_or_else(|_| "crash".into());
    let options = StoreOptions {
        flush_interval: Duration::from_millis(50),
        on_flush: Some(Arc::new(|r: &metrics_store::FlushReport| {
            // The pipe to the parent: one line per committed flush.
            #[allow(clippy::print_stdout)]
            {
                println!("FLUSHED {} {}", r.total_written, r.dropped);
            }
        })),
        ..StoreOptions::default()
    };
    let collector = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&path, options).unwrap();
    let run = store.begin_run(&RunInfo::current(run_name)).unwrap();
    let _recording = store.record(Arc::clone(&collector), run).unwrap();
    let mut i = 0u64;
    loop {
        for _ in 0..1000 {
            collector
                .record_metric("seq", i as f64, &[("writer", "child")], MetricType::Gauge)
                .unwrap();
            i += 1;
        }
        // About 200k samples/s: well inside what the writer sustains, so
        // nothing is dropped and the committed samples are a prefix.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ten_sigkills_leave_an_intact_database_holding_every_flushed_sample() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let have_shell = test_support::require("sqlite3", test_support::runs("sqlite3", &["-version"]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let exe = std::env::current_exe().unwrap();
    let mut flushed_in_all = 0u64;
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    for round in 0..10 {
        let run = format!("crash-{round}");
        let mut child = test_support::Killed(
            Command::new(&exe)
                .args([
                    "crash_child_ingests_until_killed",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .env("CRASH_CHILD_RUN", &run)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (lines, marks) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("FLUSHED ") {
                    let mut it = rest.split(' ').map(|n| n.parse::<u64>().unwrap());
                    let _ = lines.send((it.next().unwrap(), it.next().unwrap()));
                }
            }
        });
        // Wait for a first flush, then kill at a random moment within ~0.6 s.
        let first = marks
            .recv_timeout(Duration::from_secs(60))
            .expect("the child reported no flush");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 600));
        let started = Instant::now();
        // SIGKILL: std's kill sends SIGKILL on Unix.
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        reader.join().unwrap();
        let mut last = first;
        while let Ok(mark) = marks.try_recv() {
            last = mark;
        }
        assert_eq!(
            last.1, 0,
            "round {round}: the child dropped samples, so the committed set is no prefix"
        );
        assert!(started.elapsed() < Duration::from_secs(30));

        if have_shell {
            let out = Command::new("sqlite3")
                .arg(&path)
                .arg("PRAGMA integrity_check;")
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "round {round}");
        }
        let reader = StoreReader::open(&path).unwrap();
        let samples = reader
            .query(&SampleQuery {
                runs: RunFilter::Named(run.clone()),
                ..SampleQuery::new("seq")
            })
            .unwrap();
        let flushed = last.0;
        flushed_in_all += flushed;
        assert!(
            samples.len() as u64 >= flushed,
            "round {round}: {} stored, {flushed} flushed",
            samples.len()
        );
        let mut values: Vec<u64> = samples.iter().map(|s| s.value as u64).collect();
        values.sort_unstable();
        assert!(
            values
                .iter()
                .take(flushed as usize)
                .enumerate()
                .all(|(i, &v)| v == i as u64),
            "round {round}: a sample below the high-water mark {flushed} is missing"
        );
    }
    assert!(
        flushed_in_all >= 10_000,
        "the children flushed only {flushed_in_all} samples in all"
    );
    // Ten runs, and the store still takes a writer.
    let reader = StoreReader::open(&path).unwrap();
    assert_eq!(reader.runs().unwrap().len(), 10);
    MetricsStore::open(&path, StoreOptions::default()).unwrap();
}
