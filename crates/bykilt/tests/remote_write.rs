//! `--remote-write` / `--otlp` beside `bykilt batch run`, and `bykilt
//! metrics push`, against the real engines (Prometheus 2.42 with
//! `--web.enable-remote-write-receiver`, VictoriaMetrics 1.79) and
//! scripted receivers (503 twice, 400).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use batch_engine::{BatchEngine, RunContext};
use common::{Sandbox, text};
use serde_json::Value;
use test_support::{Prometheus, ScriptedReceiver, VictoriaMetrics, poll};

const CSV: &[u8] = b"name\na\nb\nc\nd\ne\nf\n";

/// Runs a six-job batch (two at a time, 0.2 s each) with `extra` options.
fn run_batch(sb: &Sandbox, extra: &[&str]) -> std::process::Output {
    let csv = sb.write("jobs.csv", CSV);
    let mut args = vec!["batch", "run", csv.to_str().unwrap(), "--exec", "sleep 0.2", "-j", "2"];
    args.extend_from_slice(extra);
    sb.run(&args)
}

/// (series, value) of every line of `bykilt metrics export --format prometheus`.
fn exported_series(sb: &Sandbox) -> Vec<(String, f64)> {
    let out = sb.run(&["metrics", "export", "--format", "prometheus"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (s, v) = l.rsplit_once(' ').unwrap();
            (
                s.to_owned(),
                if v == "+Inf" { f64::INFINITY } else { v.parse().unwrap() },
            )
        })
        .collect()
}

/// The run's stored samples of `name`: (ms, value), oldest first.
fn stored_samples(sb: &Sandbox, name: &str) -> Vec<(i64, f64)> {
    let out = sb.run(&["metrics", "export", "--format", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json[name]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let t = time::OffsetDateTime::parse(
                v["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            (
                (t.unix_timestamp_nanos() / 1_000_000) as i64,
                v["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The histogram count a remote-write engine should hold at each
/// observation of `job_duration_seconds`. Remote write has millisecond
/// timestamps: of two observations in one millisecond, the count after the
/// second is what is sent.
fn expected_counts(sb: &Sandbox) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for (i, s) in stored_samples(sb, "job_duration_seconds").iter().enumerate() {
        let point = (s.0, (i + 1) as f64);
        match out.last_mut() {
            Some(last) if last.0 == s.0 => *last = point,
            _ => out.push(point),
        }
    }
    out
}

/// VictoriaMetrics stores floats as decimals of about 15 significant
/// digits, so a value may come back off by its last bit.
fn vm_equal(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn first_value(result: &Value) -> Option<f64> {
    result[0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_batch_with_remote_write_lands_in_prometheus_with_its_own_values_and_timestamps() {
    if !test_support::have_prometheus() {
        return;
    }
    let prom = Prometheus::remote_write_receiver();
    let sb = Sandbox::new();
    let url = format!("{}/api/v1/write", prom.url());
    let out = run_batch(&sb, &["--remote-write", &url, "--remote-write-interval", "300ms"]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("to {url}")),
        "{}",
        text(&out.stderr)
    );
    let series = exported_series(&sb);
    assert!(series.iter().any(|s| s.0.starts_with("job_duration_seconds_bucket")));
    for (selector, value) in &series {
        let got = poll(Duration::from_secs(20), || first_value(&prom.query_result(selector)?));
        assert_eq!(got, Some(*value), "{selector}");
    }
    // The samples are stored at the jobs' own times.
    let result = prom.query_result("job_duration_seconds_count[1h]").unwrap();
    let raw: Vec<(i64, f64)> = result[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                p[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    for e in expected_counts(&sb) {
        assert!(raw.contains(&e), "{e:?} missing from {raw:?}");
    }
    // query_range over the run's window: each observation's count shows at
    // the observation's time (a step on each observation's millisecond).
    for (t, v) in expected_counts(&sb) {
        let at = t as f64 / 1000.0;
        let r = prom.query_range("job_duration_seconds_count", at, at, 1.0).unwrap();
        let step: f64 = r[0]["values"][0][1].as_str().unwrap().parse().unwrap();
        assert_eq!(step, v, "at {t}");
    }
}

#[test]
fn a_batch_with_remote_write_lands_in_victoria_metrics_with_its_own_values_and_timestamps() {
    if !test_support::have_victoria_metrics() {
        return;
    }
    let vm = VictoriaMetrics::start();
    let sb = Sandbox::new();
    let url = format!("{}/api/v1/write", vm.url);
    let out = run_batch(&sb, &["--remote-write", &url, "--remote-write-interval", "300ms"]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    for (selector, value) in &exported_series(&sb) {
        let _ = poll(Duration::from_secs(20), || {
            vm_equal(first_value(&vm.query_result(selector)?)?, *value).then_some(())
        });
        let got = first_value(&vm.query_result(selector).unwrap()).unwrap();
        assert!(vm_equal(got, *value), "{selector}: {got} != {value}");
    }
    let exported = vm.export("job_duration_seconds_count");
    assert_eq!(exported.len(), 1, "{exported:?}");
    let raw: Vec<(i64, f64)> = exported[0]["timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(exported[0]["values"].as_array().unwrap())
        .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap()))
        .collect();
    for e in expected_counts(&sb) {
        assert!(raw.contains(&e), "{e:?} missing from {raw:?}");
    }
}

/// Every (series, timestamp) of the accepted remote-write requests, with
/// how often it arrived.
fn received(rx: &ScriptedReceiver) -> HashMap<(String, i64), usize> {
    let mut out = HashMap::new();
    for r in rx.requests().iter().filter(|r| r.status == 200) {
        let req = metrics_remote::decode_write_request(&r.body).unwrap();
        for ts in req.timeseries {
            let key: Vec<String> = ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect();
            for s in ts.samples {
                *out.entry((key.join(","), s.timestamp)).or_insert(0) += 1;
            }
        }
    }
    out
}

#[test]
fn a_receiver_answering_503_twice_gets_every_sample_of_the_run_exactly_once() {
    let rx = ScriptedReceiver::start(vec![(503, vec!["Retry-After: 1".into()]), (503, vec![])]);
    let sb = Sandbox::new();
    let url = format!("{}/api/v1/write", rx.url);
    let out = run_batch(&sb, &["--remote-write", &url]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
    let got = received(&rx);
    assert!(got.values().all(|&n| n == 1), "a sample arrived twice");
    let counts: HashSet<i64> = got
        .keys()
        .filter(|(k, _)| k.starts_with("__name__=job_duration_seconds_count,"))
        .map(|(_, t)| *t)
        .collect();
    for (t, _) in expected_counts(&sb) {
        assert!(counts.contains(&t), "observation at {t} never arrived");
    }
}

#[test]
fn a_receiver_answering_400_gets_nothing_retried_and_the_run_still_succeeds_with_a_warning() {
    let rx = ScriptedReceiver::start(vec![(400, vec![]), (400, vec![]), (400, vec![])]);
    let sb = Sandbox::new();
    let url = format!("{}/api/v1/write", rx.url);
    let out = run_batch(
        &sb,
        &["--remote-write", &url, "--remote-write-header", "X-Scope-OrgID: t1"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning") && stderr.contains("400"), "{stderr}");
    let reqs = rx.requests();
    assert!(!reqs.is_empty());
    let bodies: HashSet<&Vec<u8>> = reqs.iter().map(|r| &r.body).collect();
    assert_eq!(bodies.len(), reqs.len(), "a rejected batch was sent again");
    assert!(reqs.iter().all(|r| r.header("x-scope-orgid") == Some("t1")));
}

#[test]
fn metrics_push_sends_a_stored_run_once_at_its_own_timestamps() {
    if !test_support::have_victoria_metrics() {
        return;
    }
    let vm = VictoriaMetrics::start();
    let sb = Sandbox::new();
    assert_eq!(run_batch(&sb, &[]).status.code(), Some(0));
    let url = format!("{}/api/v1/write", vm.url);
    let out = sb.run(&["metrics", "push", "--remote-write", &url]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    let exported = poll(Duration::from_secs(20), || {
        let e = vm.export("job_duration_seconds_count");
        (!e.is_empty()).then_some(e)
    })
    .unwrap();
    let times: Vec<i64> = exported[0]["timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = expected_counts(&sb).iter().map(|e| e.0).collect();
    // Each observation at its own time, then the aggregate at the run's
    // newest sample (a later one of another series, if any).
    assert_eq!(&times[..expected.len()], &expected[..]);
    assert!(times.len() <= expected.len() + 1, "{times:?}");
    let values = exported[0]["values"].as_array().unwrap();
    let observations = stored_samples(&sb, "job_duration_seconds").len() as f64;
    assert_eq!(values.last().and_then(Value::as_f64), Some(observations));
    // The position is kept: pushing again (all runs) sends nothing new.
    let again = sb.run(&["metrics", "push", "--remote-write", &url, "--all-runs"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("sent 0 samples"),
        "{}",
        text(&again.stderr)
    );
    // It is kept in the metrics database, not in a file beside the run.
    let run_id = sb.wait_for_batch().trim_start_matches("batch-").to_owned();
    assert!(
        !stored_positions(&sb, &run_id, &url).is_empty(),
        "no position in the database"
    );
    let metrics = sb.root().join("runs").join(&run_id).join("metrics");
    assert!(!metrics.join("remote-write-position.json").exists());
}

#[test]
fn remote_write_options_are_checked_before_the_batch_starts() {
    let sb = Sandbox::new();
    let out = run_batch(&sb, &["--remote-write", "https://example.invalid/api/v1/write"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    let out = run_batch(
        &sb,
        &[
            "--remote-write",
            "http://127.0.0.1:1/w",
            "--remote-write-header",
            "no colon",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("\"no colon\""), "{}", text(&out.stderr));
    let out = run_batch(&sb, &["--otlp", "localhost:4318"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"localhost:4318\""),
        "{}",
        text(&out.stderr)
    );
    // Refused before anything was created on disk.
    assert!(batch_engine::list_batches(&sb.root()).unwrap_or_default().is_empty());
    let out = sb.run(&["metrics", "push", "--run", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_batch_with_otlp_sends_its_metrics_to_an_otlp_receiver() {
    if !test_support::have_otlp_proto() {
        return;
    }
    let receiver = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../metrics-remote/tests/support/otlp_receiver.py"
    );
    let sb = Sandbox::new();
    let port_file = sb.path().join("port");
    let records = sb.path().join("records.jsonl");
    let _rx = test_support::Killed(
        std::process::Command::new("python3")
            .arg(receiver)
            .arg(&port_file)
            .arg(&records)
            .spawn()
            .unwrap(),
    );
    let port = poll(Duration::from_secs(20), || std::fs::read_to_string(&port_file).ok()).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let out = run_batch(&sb, &["--otlp", &url, "--otlp-service-name", "nightly-etl"]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    let recs: Vec<Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(recs.iter().all(|r| r["resource"]["service.name"] == "nightly-etl"));
    let durations: Vec<&Value> = recs.iter().filter(|r| r["name"] == "job_duration_seconds").collect();
    assert!(!durations.is_empty());
    assert!(
        durations
            .iter()
            .all(|r| r["kind"] == "histogram" && r["temporality"] == 2)
    );
    let points: Vec<Value> = durations
        .iter()
        .flat_map(|r| r["points"].as_array().unwrap().clone())
        .collect();
    let stored = stored_samples(&sb, "job_duration_seconds");
    for (i, (ms, _)) in stored.iter().enumerate() {
        let p = points
            .iter()
            .find(|p| p["time"].as_u64().map(|t| (t / 1_000_000) as i64) == Some(*ms) && p["count"] == i + 1);
        assert!(p.is_some(), "no point with count {} at {ms}", i + 1);
    }
    let status: Vec<&Value> = recs.iter().filter(|r| r["name"] == "job_status").collect();
    assert!(status.iter().all(|r| r["kind"] == "sum" && r["monotonic"] == true));
    assert!(status.iter().any(|r| r["points"][0]["attrs"]["status"].is_string()));
    // `metrics push --otlp` of the same run to the same endpoint resumes from
    // the position the live run saved: nothing is sent twice.
    let before = std::fs::read_to_string(&records).unwrap().lines().count();
    let again = sb.run(&["metrics", "push", "--otlp", &url]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("sent 0 samples"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(&records).unwrap().lines().count(), before);
}

/// The acknowledged send positions of run `run_id` with receiver `url`,
/// as the metrics database holds them.
fn stored_positions(sb: &Sandbox, run_id: &str, url: &str) -> HashMap<String, i64> {
    metrics_store::StoreReader::open(sb.root().join("metrics.db"))
        .and_then(|r| r.send_positions(run_id, url))
        .unwrap_or_default()
}

/// The samples of `name` in run `run_id` of the metrics database: ns stamps.
fn stored_stamps(sb: &Sandbox, run_id: &str, name: &str) -> Vec<i64> {
    let q = metrics_store::SampleQuery {
        name: name.to_owned(),
        runs: metrics_store::RunFilter::Named(run_id.to_owned()),
        ..metrics_store::SampleQuery::default()
    };
    metrics_store::StoreReader::open(sb.root().join("metrics.db"))
        .and_then(|r| r.query(&q))
        .map(|s| s.into_iter().map(|s| s.timestamp_nanos).collect())
        .unwrap_or_default()
}

/// Starts a batch of `rows` jobs that remote-writes to `url` every `interval`,
/// waits until the database holds a send position of the job durations, a
/// quarter of the jobs ran, and `ready` holds, then kills it with SIGKILL.
/// Returns the batch id, the run id and the position key of the durations.
fn kill_a_remote_writing_batch(
    sb: &Sandbox,
    rows: usize,
    url: &str,
    interval: &str,
    ready: impl Fn(&str, i64) -> bool,
) -> (String, String, String) {
    sb.write("in.csv", &common::numbered_csv(rows));
    let runs = sb.path().join("runs.txt");
    let mut child = sb.spawn(&[
        "batch",
        "run",
        "in.csv",
        "-j",
        "2",
        "--exec",
        "echo x >> runs.txt; sleep 0.05",
        "--remote-write",
        url,
        "--remote-write-interval",
        interval,
    ]);
    let batch_id = sb.wait_for_batch();
    let run_id = batch_id.trim_start_matches("batch-").to_owned();
    let key = format!("job_duration_seconds_count{{batch_id=\"{batch_id}\",run_id=\"{run_id}\"}}");
    let holds = || {
        let position = stored_positions(sb, &run_id, url).get(&key).copied();
        position.is_some_and(|p| common::lines(&runs).len() >= 20 && ready(&run_id, p))
    };
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig}");
    };
    // Checked again with the process stopped: a send that lands between a
    // check and the kill would otherwise move the position past it.
    common::wait_until("a stored position of job durations and a quarter of the jobs", || {
        if !holds() {
            return None;
        }
        signal("-STOP");
        if holds() {
            return Some(());
        }
        signal("-CONT");
        None
    });
    child.kill().unwrap(); // SIGKILL
    common::wait_exit(&mut child);
    (batch_id, run_id, key)
}

/// `kill -9` of a run that was remote-writing, then `batch resume` with the
/// same `--remote-write`: the resumed process starts from the position the
/// killed one kept in the metrics database, and the engine (deduplicating
/// identical samples, as docs/scaling.md configures it) ends with every
/// observation once.
#[test]
fn kill_9_of_a_remote_writing_run_then_resume_sends_from_the_stored_position() {
    if !test_support::have_victoria_metrics() {
        return;
    }
    let vm = VictoriaMetrics::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let url = format!("{}/api/v1/write", vm.url);
    let sb = Sandbox::new();
    let (batch_id, run_id, key) = kill_a_remote_writing_batch(&sb, 80, &url, "100ms", |_, _| true);
    let last_sent = stored_positions(&sb, &run_id, &url)[&key];
    assert!(
        !sb.root()
            .join("runs")
            .join(&run_id)
            .join("metrics")
            .join("remote-write-position.json")
            .exists(),
        "with the database, no position file is written"
    );
    let out = sb.run(&[
        "batch",
        "resume",
        batch_id.as_str(),
        "--remote-write",
        &url,
        "--remote-write-interval",
        "100ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));

    let selector = "job_duration_seconds_count";
    let resumed = expected_counts(&sb);
    let times: Vec<i64> = poll(Duration::from_secs(20), || {
        let e = vm.export(selector);
        let t: Vec<i64> = e.first()?["timestamps"]
            .as_array()?
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        resumed.iter().all(|r| t.contains(&r.0)).then_some(t)
    })
    .expect("the run's observations reach the engine");
    let unique: HashSet<i64> = times.iter().copied().collect();
    assert_eq!(unique.len(), times.len(), "a sample stored twice");
    // The killed process's observations are there too, each once.
    assert!(times.iter().any(|&t| t <= last_sent), "{times:?}");
}

/// Issue 14: `kill -9` of a run that was remote-writing to Prometheus,
/// then `batch resume`: what the killed process stored but had not sent
/// yet goes out with the resumed run, so Prometheus ends with every stored
/// observation of the run exactly once, at its own time, and the
/// histogram count continues across the two processes (no reset).
#[test]
fn kill_9_then_resume_leaves_every_stored_sample_in_prometheus_exactly_once() {
    if !test_support::have_prometheus() {
        return;
    }
    let prom = Prometheus::remote_write_receiver();
    let url = format!("{}/api/v1/write", prom.url());
    let sb = Sandbox::new();
    // A long send interval, and the kill once the database holds
    // observations newer than the last acknowledged one: those are stored
    // but not sent when the process dies.
    let (batch_id, run_id, key) = kill_a_remote_writing_batch(&sb, 240, &url, "2s", |run_id, position_ms| {
        stored_stamps(&sb, run_id, "job_duration_seconds")
            .iter()
            .filter(|&&ns| ns / 1_000_000 > position_ms)
            .count()
            >= 3
    });
    let acked_ms = stored_positions(&sb, &run_id, &url)[&key];
    let unsent = stored_stamps(&sb, &run_id, "job_duration_seconds")
        .iter()
        .filter(|&&ns| ns / 1_000_000 > acked_ms)
        .count();
    assert!(unsent > 0, "the kill left nothing stored but unsent");

    let out = sb.run(&[
        "batch",
        "resume",
        batch_id.as_str(),
        "--remote-write",
        &url,
        "--remote-write-interval",
        "100ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", out.status, text(&out.stderr));
    assert!(!text(&out.stderr).contains("rejected"), "{}", text(&out.stderr));

    // Every observation the database holds, numbered across both
    // processes: the count Prometheus should hold at its millisecond.
    let expected = expected_counts(&sb);
    let stored = stored_stamps(&sb, &run_id, "job_duration_seconds").len();
    let engine = BatchEngine::new(RunContext::new(sb.root()));
    let attempts_completed = engine.get_batch(&batch_id).unwrap().completed_jobs;
    assert_eq!(attempts_completed, 240);
    assert!(
        stored >= attempts_completed - 2,
        "{stored} stored of {attempts_completed}"
    );
    let selector = format!("job_duration_seconds_count{{run_id=\"{run_id}\"}}[1h]");
    let raw: Vec<(i64, f64)> = poll(Duration::from_secs(20), || {
        let result = prom.query_result(&selector)?;
        let raw: Vec<(i64, f64)> = result[0]["values"]
            .as_array()?
            .iter()
            .map(|p| {
                (
                    (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                    p[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        expected.iter().all(|e| raw.contains(e)).then_some(raw)
    })
    .unwrap_or_else(|| {
        panic!(
            "not every stored observation reached Prometheus: {:?}\nexpected {expected:?}\nresume: {}",
            prom.query_result(&selector),
            text(&out.stderr)
        )
    });
    // Exactly once: one point per stored observation's millisecond (the
    // other points are the aggregates sent at each interval, which repeat
    // the count of the observations before them).
    let stamps: HashSet<i64> = expected.iter().map(|e| e.0).collect();
    assert_eq!(raw.iter().filter(|p| stamps.contains(&p.0)).count(), expected.len());
    for (i, p) in raw.iter().enumerate() {
        let before = expected.iter().filter(|e| e.0 <= p.0).map(|e| e.1).fold(0.0, f64::max);
        assert_eq!(
            p.1, before,
            "point {i} at {} does not count the stored observations before it",
            p.0
        );
    }
    assert!(raw.windows(2).all(|w| w[0].1 <= w[1].1), "the count went back: {raw:?}");
    // query_range over the run's window, its last step at the newest
    // point: it counts every stored sample, and no step goes back.
    let (first, last) = (raw[0].0 as f64 / 1000.0, raw[raw.len() - 1].0 as f64 / 1000.0);
    let range = |start: f64| {
        let r = prom
            .query_range(
                &format!("job_duration_seconds_count{{run_id=\"{run_id}\"}}"),
                start,
                last,
                0.25,
            )
            .unwrap();
        let steps: Vec<f64> = r[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_str().unwrap().parse().unwrap())
            .collect();
        steps
    };
    let steps = range(last - 0.25 * ((last - first) / 0.25).floor());
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    let final_count = *steps.last().unwrap();
    assert_eq!(final_count as usize, stored, "query_range count == stored count");
}

/// A run sent before positions moved into the metrics database (here: a
/// `--no-db` run, whose position is a file beside it), then imported into
/// the database and pushed again: the file's position is taken over into
/// the database (and the file removed), so nothing is sent twice.
#[test]
fn a_position_file_is_taken_over_by_the_database() {
    let rx = ScriptedReceiver::start(vec![]);
    let sb = Sandbox::new();
    let url = format!("{}/api/v1/write", rx.url);
    let out = run_batch(&sb, &["--no-db", "--remote-write", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run_id = sb.wait_for_batch().trim_start_matches("batch-").to_owned();
    let metrics = sb.root().join("runs").join(&run_id).join("metrics");
    let file = metrics.join("remote-write-position.json");
    assert!(file.exists(), "--no-db keeps the position in a file");
    assert!(!sb.root().join("metrics.db").exists());
    let sent = rx.requests().len();
    assert!(sent > 0);

    let json = metrics.join("metrics.json");
    let imported = sb.run(&["metrics", "import", json.to_str().unwrap()]);
    assert_eq!(imported.status.code(), Some(0), "{}", text(&imported.stderr));
    let again = sb.run(&["metrics", "push", "--remote-write", &url, "--run", &run_id]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let err = text(&again.stderr);
    assert!(
        err.contains("moved the send position") && err.contains("sent 0 samples"),
        "{err}"
    );
    assert_eq!(rx.requests().len(), sent, "nothing was sent again");
    assert!(!file.exists(), "the file was removed");
    assert!(!stored_positions(&sb, &run_id, &url).is_empty());
}

/// `batch resume --remote-write` of a batch with nothing left to run (a
/// run killed after its last job, before its last send; here: one that
/// never sent): what the receiver has not acknowledged is sent from the
/// metrics database, and a second resume sends nothing more.
#[test]
fn resuming_a_finished_batch_sends_what_its_receiver_lacks() {
    let rx = ScriptedReceiver::start(vec![]);
    let sb = Sandbox::new();
    assert_eq!(run_batch(&sb, &[]).status.code(), Some(0));
    let batch_id = sb.wait_for_batch();
    let url = format!("{}/api/v1/write", rx.url);
    let out = sb.run(&["batch", "resume", &batch_id, "--remote-write", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nothing to resume"), "{}", text(&out.stdout));
    let got = received(&rx);
    let counts: HashSet<i64> = got
        .keys()
        .filter(|(k, _)| k.starts_with("__name__=job_duration_seconds_count,"))
        .map(|(_, t)| *t)
        .collect();
    let expected = expected_counts(&sb);
    assert_eq!(
        expected.len(),
        counts.iter().filter(|t| expected.iter().any(|e| e.0 == **t)).count()
    );
    let requests = rx.requests().len();
    let again = sb.run(&["batch", "resume", &batch_id, "--remote-write", &url]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("sent 0 samples"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(rx.requests().len(), requests);
}
