//! Delivery behaviour against a scripted receiver: headers and message
//! shape, retries of 503 (honouring Retry-After) with every sample once,
//! 400 dropped without retry, queue overflow counted, the final flush, and
//! resuming after kill -9 with a file-backed position.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{collector_with_history, exported_samples, received_series, running_totals};
use metrics_core::{MetricType, MetricsCollector};
use metrics_remote::{
    FilePosition, MemoryPosition, SendConfig, SendEvent, SendPosition, Sender, Target, decode_write_request,
    push_history,
};
use test_support::{Killed, ScriptedReceiver};

fn quick(batch: usize) -> SendConfig {
    SendConfig {
        interval: Duration::from_millis(200),
        max_samples_per_batch: batch,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(20),
        ..SendConfig::default()
    }
}

fn events() -> (metrics_remote::EventSink, Arc<Mutex<Vec<SendEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    (Arc::new(move |e: &SendEvent| s.lock().unwrap().push(e.clone())), seen)
}

#[test]
fn requests_carry_the_remote_write_headers_and_sorted_labels_in_time_order() {
    let (c, _) = collector_with_history(20);
    let rx = ScriptedReceiver::start(vec![]);
    let target = Target::remote_write(&format!("{}/api/v1/write", rx.url))
        .unwrap()
        .with_header("X-Scope-OrgID: team-a")
        .unwrap()
        .with_basic_auth("user", "pass");
    let stats = push_history(&c, target, &quick(10_000), &mut MemoryPosition::new(), None).unwrap();
    assert!(stats.all_sent(), "{stats:?}");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v1/write");
    assert_eq!(r.header("content-encoding"), Some("snappy"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("x-prometheus-remote-write-version"), Some("0.1.0"));
    assert_eq!(r.header("user-agent"), Some(metrics_remote::USER_AGENT));
    assert_eq!(r.header("x-scope-orgid"), Some("team-a"));
    assert_eq!(r.header("authorization"), Some("Basic dXNlcjpwYXNz"));
    // Snappy block format, not framed: the framed stream starts with 0xff.
    assert_ne!(r.body[0], 0xff);
    let req = decode_write_request(&r.body).unwrap();
    for ts in &req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "labels not sorted");
        assert!(names.contains(&"__name__"));
        assert!(ts.samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    }
    let got = received_series(&reqs);
    let keys: HashSet<&String> = got.keys().collect();
    for k in [
        "test_jobs_total{queue=\"fast\"}",
        "test_in_flight{host=\"a\"}",
        "test_latency_bucket{le=\"2.5\",step=\"build\"}",
        "test_latency_bucket{le=\"+Inf\",step=\"build\"}",
        "test_latency_sum{step=\"build\"}",
        "test_run_seconds_count",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
    }
    // The counter's samples are its running totals at the samples' own times.
    let expected = running_totals(&exported_samples(&c, "test.jobs", Some(("queue", "fast"))));
    assert_eq!(got["test_jobs_total{queue=\"fast\"}"], expected);
}

#[test]
fn a_receiver_answering_503_twice_gets_every_sample_exactly_once_after_retry_after() {
    let (c, _) = collector_with_history(30);
    let rx = ScriptedReceiver::start(vec![(503, vec!["Retry-After: 1".into()]), (503, vec![])]);
    let target = Target::remote_write(&format!("{}/api/v1/write", rx.url)).unwrap();
    let c = Arc::new(c);
    let sender = Sender::start(Arc::clone(&c), target, quick(50), Box::new(MemoryPosition::new()), None).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.record_metric("test.jobs", 5.0, &[("queue", "fast")], MetricType::Counter)
        .unwrap();
    let stats = sender.shutdown();
    assert!(stats.all_sent(), "{stats:?}");
    assert_eq!(stats.retries, 2, "{stats:?}");
    let reqs = rx.requests();
    assert_eq!(reqs[0].status, 503);
    assert_eq!(reqs[1].status, 503);
    // The same batch is retried, and not before Retry-After's one second.
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(reqs[1].body, reqs[2].body);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(950));
    let got = received_series(&reqs);
    for (key, samples) in &got {
        let unique: HashSet<i64> = samples.iter().map(|s| s.0).collect();
        assert_eq!(unique.len(), samples.len(), "{key} got a sample twice: {samples:?}");
    }
    let expected = running_totals(&exported_samples(&c, "test.jobs", Some(("queue", "fast"))));
    let sent: Vec<(i64, f64)> = got["test_jobs_total{queue=\"fast\"}"].clone();
    for e in &expected {
        assert!(sent.contains(e), "{e:?} missing from {sent:?}");
    }
    assert_eq!(sent.last().map(|s| s.1), expected.last().map(|s| s.1));
    assert_eq!(stats.sent_samples, got.values().map(|v| v.len() as u64).sum::<u64>());
}

#[test]
fn a_400_drops_the_batch_at_once_counts_it_and_reports_one_event() {
    let (c, _) = collector_with_history(10);
    let rx = ScriptedReceiver::start(vec![(400, vec![])]);
    let target = Target::remote_write(&format!("{}/api/v1/write", rx.url)).unwrap();
    let (sink, seen) = events();
    let stats = push_history(&c, target, &quick(100), &mut MemoryPosition::new(), Some(sink)).unwrap();
    let reqs = rx.requests();
    let batches = reqs.len() as u64;
    assert!(batches >= 2, "the history should span batches: {batches}");
    assert_eq!(stats.rejected_batches, 1);
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.sent_batches, batches - 1);
    // Nothing was sent twice: every request body differs.
    let bodies: HashSet<&Vec<u8>> = reqs.iter().map(|r| &r.body).collect();
    assert_eq!(bodies.len(), reqs.len());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let line = seen[0].to_string();
    assert!(line.contains("400") && line.contains("not retried"), "{line}");
}

#[test]
fn batches_collected_while_the_queue_is_full_are_dropped_and_counted() {
    let (c, _) = collector_with_history(20);
    // The first answer holds the sender for a second while the collection
    // queues far more than one batch.
    let rx = ScriptedReceiver::start(vec![(503, vec!["Retry-After: 1".into()])]);
    let target = Target::remote_write(&format!("{}/api/v1/write", rx.url)).unwrap();
    let config = SendConfig {
        interval: Duration::from_secs(3600),
        max_queued_batches: 2,
        ..quick(10)
    };
    let (sink, seen) = events();
    let sender = Sender::start(Arc::new(c), target, config, Box::new(MemoryPosition::new()), Some(sink)).unwrap();
    let stats = sender.shutdown();
    assert!(stats.overflowed_batches > 0, "{stats:?}");
    assert!(stats.sent_batches <= 3, "{stats:?}");
    assert_eq!(stats.failed_batches, 0, "{stats:?}");
    let got = received_series(&rx.requests());
    assert_eq!(stats.sent_samples, got.values().map(|v| v.len() as u64).sum::<u64>());
    let overflow_events = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, SendEvent::Overflow { .. }))
        .count() as u64;
    assert_eq!(overflow_events, stats.overflowed_batches);
}

#[test]
fn shutdown_flushes_what_was_recorded_since_the_last_interval() {
    let c = Arc::new(MetricsCollector::default());
    let rx = ScriptedReceiver::start(vec![]);
    let target = Target::remote_write(&format!("{}/api/v1/write", rx.url)).unwrap();
    let config = SendConfig {
        interval: Duration::from_secs(3600),
        ..quick(100)
    };
    let sender = Sender::start(Arc::clone(&c), target, config, Box::new(MemoryPosition::new()), None).unwrap();
    c.record_metric("late.gauge", 42.0, &[], MetricType::Gauge).unwrap();
    let stats = sender.shutdown();
    assert_eq!(stats.sent_batches, 1);
    let got = received_series(&rx.requests());
    assert_eq!(got["late_gauge"].last().map(|s| s.1), Some(42.0));
}

/// The history sent by the kill test: 300 gauge samples, 1 ms apart,
/// identical in both processes.
fn kill_test_collector(start: i64) -> MetricsCollector {
    let c = MetricsCollector::default();
    let start = time::OffsetDateTime::from_unix_timestamp(start).unwrap();
    for i in 0..300i64 {
        c.record_metric_at(
            "kill.gauge",
            i as f64,
            &[],
            MetricType::Gauge,
            start + time::Duration::milliseconds(i),
        )
        .unwrap();
    }
    c
}

const KILL_BATCH: usize = 10;

fn kill_config() -> SendConfig {
    quick(KILL_BATCH)
}

/// Run by [`a_restart_after_kill_9_resends_at_most_one_batch`] in a child
/// process, which it kills while this sends.
#[test]
#[ignore = "the child process of a_restart_after_kill_9_resends_at_most_one_batch"]
fn kill_test_child() {
    let url = std::env::var("KILL_TEST_URL").unwrap();
    let path = std::env::var("KILL_TEST_POSITION").unwrap();
    let start: i64 = std::env::var("KILL_TEST_START").unwrap().parse().unwrap();
    let target = Target::remote_write(&url).unwrap();
    let mut position = FilePosition::new(path, url);
    let _ = push_history(&kill_test_collector(start), target, &kill_config(), &mut position, None);
}

#[test]
fn a_restart_after_kill_9_resends_at_most_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let position_path = dir.path().join("position.json");
    // 30 batches at 100 ms each: the kill comes long before the last.
    let rx = ScriptedReceiver::start_with_delay(vec![], Duration::from_millis(100));
    let url = format!("{}/api/v1/write", rx.url);
    let start = common::whole_seconds_ago(60).unix_timestamp();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["kill_test_child", "--exact", "--ignored", "--nocapture"])
        .env("KILL_TEST_URL", &url)
        .env("KILL_TEST_POSITION", &position_path)
        .env("KILL_TEST_START", start.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let got_some = test_support::poll(Duration::from_secs(30), || (rx.requests().len() >= 8).then_some(()));
    assert!(got_some.is_some(), "the child sent too little");
    // SIGKILL: no flush, no last save.
    let _ = child.0.kill();
    let _ = child.0.wait();
    let before = rx.requests().len();
    assert!(before < 300 / KILL_BATCH, "the child finished before it was killed");

    let target = Target::remote_write(&url).unwrap();
    let mut position = FilePosition::new(&position_path, url.clone());
    assert!(!position.load().unwrap().is_empty(), "the child saved no position");
    let stats = push_history(&kill_test_collector(start), target, &kill_config(), &mut position, None).unwrap();
    assert!(stats.all_sent(), "{stats:?}");

    let got = received_series(&rx.requests());
    let samples = &got["kill_gauge"];
    let unique: HashSet<i64> = samples.iter().map(|s| s.0).collect();
    let expected: HashSet<i64> = exported_samples(&kill_test_collector(start), "kill.gauge", None)
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(unique, expected, "every sample arrives");
    let duplicates = samples.len() - unique.len();
    assert!(duplicates <= KILL_BATCH, "{duplicates} samples sent twice");
}

#[test]
fn a_restarted_sender_resends_the_in_flight_batch_alone_before_anything_new() {
    let start = common::whole_seconds_ago(100).unix_timestamp();
    let ms = |i: i64| (start + i) * 1000;
    let dir = tempfile::tempdir().unwrap();
    let rx = ScriptedReceiver::start(vec![]);
    let url = format!("{}/api/v1/write", rx.url);
    // As a sender killed while posting the batch of samples 5..=9 leaves it.
    let mut position = FilePosition::new(dir.path().join("p.json"), url.clone());
    position.load().unwrap();
    position
        .save(&metrics_remote::Positions::from([("resume_gauge".to_owned(), ms(4))]))
        .unwrap();
    position
        .save_in_flight(&metrics_remote::Positions::from([("resume_gauge".to_owned(), ms(9))]))
        .unwrap();

    let mut reopened = FilePosition::new(dir.path().join("p.json"), url.clone());
    let target = Target::remote_write(&url).unwrap();
    let stats = push_history(
        &common::gauge_history(start, 20),
        target,
        &quick(100),
        &mut reopened,
        None,
    )
    .unwrap();
    assert!(stats.all_sent(), "{stats:?}");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let first: Vec<i64> = received_series(&reqs[..1])["resume_gauge"]
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(first, (5..=9).map(ms).collect::<Vec<_>>());
    let second: Vec<i64> = received_series(&reqs[1..])["resume_gauge"]
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(second, (10..20).map(ms).collect::<Vec<_>>());
    // Acknowledged: the in-flight record is gone and the position is at the end.
    let mut after = FilePosition::new(dir.path().join("p.json"), url);
    assert_eq!(after.load().unwrap()["resume_gauge"], ms(19));
    assert_eq!(after.load_in_flight().unwrap(), None);
}

/// With a durable store, a sender sends only what the store has committed:
/// later samples wait (and the aggregates are taken back to the horizon,
/// so no value is sent that a process restarted from the store would not
/// rebuild); the final send at shutdown holds nothing back.
#[test]
fn a_durable_sender_holds_back_samples_the_store_has_not_committed() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let t0: i64 = 1_700_000_000_000_000_000;
    let clock = Arc::new(metrics_core::clock::ManualClock::new(t0));
    let c = Arc::new(MetricsCollector::with_clock(
        metrics_core::MetricsConfig::default(),
        clock.clone(),
    ));
    for (n, secs) in [(1.0, 0), (2.0, 1), (4.0, 2)] {
        clock.set(t0 + secs * 1_000_000_000);
        c.record_metric("hits", n, &[], MetricType::Counter).unwrap();
    }
    let horizon = Arc::new(AtomicI64::new(t0 + 1_500_000_000));
    let asked = Arc::new(AtomicI64::new(0));
    let (h, a) = (Arc::clone(&horizon), Arc::clone(&asked));
    let durable: metrics_remote::DurableUntil = Arc::new(move || {
        a.fetch_add(1, Ordering::Relaxed);
        Some(h.load(Ordering::Relaxed))
    });
    let rx = ScriptedReceiver::start(vec![]);
    let target = Target::remote_write(&format!("{}/api/v1/write", rx.url)).unwrap();
    let config = SendConfig {
        interval: Duration::from_millis(50),
        settle: Duration::ZERO,
        ..quick(10_000)
    };
    let sender = Sender::start_durable(
        Arc::clone(&c),
        target,
        config,
        Box::new(MemoryPosition::new()),
        None,
        Some(durable),
    )
    .unwrap();
    let ms = |ns: i64| ns / 1_000_000;
    let got = test_support::poll(Duration::from_secs(10), || {
        let got = received_series(&rx.requests());
        got.get("hits_total").filter(|p| p.len() >= 3).cloned()
    })
    .expect("the durable part is sent");
    std::thread::sleep(Duration::from_millis(200));
    let before = received_series(&rx.requests())["hits_total"].clone();
    assert_eq!(got[..2], [(ms(t0), 1.0), (ms(t0) + 1000, 3.0)]);
    // The aggregate stands at the horizon with the horizon's value.
    assert!(before.contains(&(ms(t0) + 1499, 3.0)), "{before:?}");
    assert!(
        before.iter().all(|p| p.1 <= 3.0),
        "an uncommitted sample was sent: {before:?}"
    );
    assert!(
        asked.load(Ordering::Relaxed) >= 2,
        "the store is asked before each read"
    );
    let stats = sender.shutdown();
    assert!(stats.all_sent(), "{stats:?}");
    let after = received_series(&rx.requests())["hits_total"].clone();
    assert!(after.contains(&(ms(t0) + 2000, 7.0)), "{after:?}");
    let mut times: Vec<i64> = after.iter().map(|p| p.0).collect();
    let n = times.len();
    times.sort_unstable();
    times.dedup();
    assert_eq!(times.len(), n, "a point sent twice: {after:?}");
}
