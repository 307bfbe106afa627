//! Delivery against real receivers: a webhook that fails twice gets the
//! notification once; a real Alertmanager 0.25 receives the alert of a
//! batch whose jobs fail, with our labels, and then its resolution.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, RunContext};
use metrics_alerts::{AlertStatus, AlertmanagerClient, Evaluator, JsonFileStore, RuleSet, WebhookClient};
use metrics_core::clock::ManualClock;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use test_support::{Alertmanager, WebhookReceiver, have_alertmanager, poll};

#[test]
fn a_webhook_that_fails_twice_gets_the_notification_once_after_retries() {
    let receiver = WebhookReceiver::start(2);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000_000_000));
    let collector = Arc::new(MetricsCollector::with_clock(MetricsConfig::default(), clock.clone()));
    let dir = tempfile::tempdir().unwrap();
    let rules = RuleSet::parse(
        "rules.toml",
        "external_url = \"http://127.0.0.1:9464\"\n[[rule]]\nname = \"Deep\"\nexpr = 'queue_depth > 100 by (queue)'\n\
         labels = { severity = \"page\" }\nannotations = { summary = \"depth {{ $value }} on {{ $labels.queue }}\" }\n",
    )
    .unwrap();
    let mut ev = Evaluator::new(
        rules,
        Arc::clone(&collector),
        Box::new(JsonFileStore::new(dir.path().join("s.json"))),
    )
    .unwrap()
    .with_notifier(WebhookClient::new(&receiver.url).with_retries(4, Duration::from_millis(50)));
    collector
        .record_metric("queue_depth", 150.0, &[("queue", "a")], MetricType::Gauge)
        .unwrap();
    let report = ev.evaluate();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(receiver.requests(), 3, "two failures, then the accepted attempt");
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1);
    let n = &accepted[0];
    assert_eq!(n["version"], "4");
    assert_eq!(n["status"], "firing");
    assert_eq!(n["receiver"], "bykilt");
    assert_eq!(n["groupLabels"]["alertname"], "Deep");
    assert_eq!(n["commonLabels"]["severity"], "page");
    assert_eq!(n["truncatedAlerts"], 0);
    let a = &n["alerts"][0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["queue"], "a");
    assert_eq!(a["annotations"]["summary"], "depth 150 on a");
    assert_eq!(a["startsAt"], "2023-11-14T22:13:20Z");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["generatorURL"], "http://127.0.0.1:9464/#/series/queue_depth");
    // Still firing: nothing new to notify.
    clock.advance(Duration::from_secs(15));
    ev.evaluate();
    assert_eq!(receiver.accepted().len(), 1);
    // Resolved: one more notification, with its end time.
    collector
        .record_metric("queue_depth", 1.0, &[("queue", "a")], MetricType::Gauge)
        .unwrap();
    ev.evaluate();
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[1]["status"], "resolved");
    assert_eq!(accepted[1]["alerts"][0]["endsAt"], "2023-11-14T22:13:35Z");
}

#[test]
fn a_webhook_that_keeps_failing_is_reported_not_fatal() {
    let receiver = WebhookReceiver::start(100);
    let collector = Arc::new(MetricsCollector::default());
    let dir = tempfile::tempdir().unwrap();
    let rules = RuleSet::parse("r.toml", "[[rule]]\nname = \"Deep\"\nexpr = 'queue_depth > 100'\n").unwrap();
    let mut ev = Evaluator::new(
        rules,
        Arc::clone(&collector),
        Box::new(JsonFileStore::new(dir.path().join("s.json"))),
    )
    .unwrap()
    .with_notifier(WebhookClient::new(&receiver.url).with_retries(3, Duration::from_millis(10)));
    collector
        .record_metric("queue_depth", 150.0, &[], MetricType::Gauge)
        .unwrap();
    let report = ev.evaluate();
    assert_eq!(
        report.changes[0].alert.status,
        AlertStatus::Firing,
        "the state still changes"
    );
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].contains("after 3 attempt(s): HTTP 500") && report.errors[0].contains(&receiver.url),
        "{}",
        report.errors[0]
    );
    assert_eq!(receiver.requests(), 3);
}

fn our_alert(am: &Alertmanager, batch_id: &str) -> Option<serde_json::Value> {
    am.alerts()?
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "JobsFailing" && a["labels"]["batch_id"] == batch_id)
}

#[test]
fn failing_jobs_raise_an_alert_in_alertmanager_which_is_then_resolved() {
    if !have_alertmanager() {
        return;
    }
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("jobs.csv");
    std::fs::write(&csv, "n,ok\n1,no\n2,no\n3,no\n4,yes\n5,no\n").unwrap();
    let collector = Arc::new(MetricsCollector::default());
    let engine = BatchEngine::new(RunContext::new(dir.path().join("artifacts"))).with_collector(Arc::clone(&collector));
    let manifest = engine.create_batch_jobs(&csv).unwrap();
    // The errors leave the 3 s window soon after the batch ends: the
    // condition clears and the alert is resolved.
    let rules = RuleSet::parse(
        "rules.toml",
        "eval_interval = \"200ms\"\nexternal_url = \"http://127.0.0.1:9464\"\n\
         [[rule]]\nname = \"JobsFailing\"\nexpr = 'increase(job_errors_total[3s]) > 3 by (batch_id)'\n\
         labels = { severity = \"page\", team = \"data\" }\n\
         annotations = { summary = \"{{ $value }} failed jobs in batch {{ $labels.batch_id }}\" }\n",
    )
    .unwrap();
    let store = JsonFileStore::new(dir.path().join("alerts.json"));
    let running = Evaluator::new(rules, Arc::clone(&collector), Box::new(store))
        .unwrap()
        .with_notifier(AlertmanagerClient::new(&am.url))
        .spawn();
    let runner = |job: &JobContext<'_>| match job.row.get("ok") {
        Some("yes") => Ok(()),
        _ => Err(JobError::runner("row says no")),
    };
    let report = engine
        .execute_batch(&manifest.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!(report.summary.failed, 4);
    let alert = poll(Duration::from_secs(30), || our_alert(&am, &manifest.batch_id))
        .unwrap_or_else(|| panic!("no JobsFailing alert in alertmanager: {:?}", am.alerts()));
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["team"], "data");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(
        alert["annotations"]["summary"],
        format!("4 failed jobs in batch {}", manifest.batch_id)
    );
    assert_eq!(alert["generatorURL"], "http://127.0.0.1:9464/#/series/job_errors");
    // Firing alerts are held four resend periods (4 min) ahead: the alert
    // only leaves this soon because we sent its resolution.
    let resolved = poll(Duration::from_secs(15), || {
        our_alert(&am, &manifest.batch_id).is_none().then_some(())
    });
    let ev = running.stop().unwrap();
    assert!(
        resolved.is_some(),
        "still active in alertmanager: {:?}",
        our_alert(&am, &manifest.batch_id)
    );
    let ours = ev.alerts();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].status, AlertStatus::Resolved);
}

#[test]
fn the_generator_url_opens_the_dashboard_page_of_the_series() {
    let receiver = WebhookReceiver::start(0);
    let collector = Arc::new(MetricsCollector::default());
    let server = metrics_api::spawn_server(
        "127.0.0.1:0".parse().unwrap(),
        metrics_api::ApiState::new(Arc::clone(&collector)),
    )
    .unwrap();
    let base = format!("http://{}/", server.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let rules = RuleSet::parse(
        "rules.toml",
        &format!(
            "external_url = \"{base}\"\n[[rule]]\nname = \"Errors\"\nexpr = 'increase(job_errors_total[5m]) > 1'\n"
        ),
    )
    .unwrap();
    let mut ev = Evaluator::new(
        rules,
        Arc::clone(&collector),
        Box::new(JsonFileStore::new(dir.path().join("s.json"))),
    )
    .unwrap()
    .with_notifier(WebhookClient::new(&receiver.url));
    collector
        .record_metric("job_errors", 2.0, &[("batch_id", "b1")], MetricType::Counter)
        .unwrap();
    ev.evaluate();
    let accepted = receiver.accepted();
    let url = accepted[0]["alerts"][0]["generatorURL"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("http://{}/#/series/job_errors", server.local_addr()));
    // The page before the fragment is the dashboard; the fragment names a
    // series the dashboard's series page loads from the JSON API.
    let (page, route) = url.split_once('#').unwrap();
    let html = test_support::http_get(page).expect("the dashboard page");
    assert!(html.contains("/dashboard/app.js"), "{html}");
    let name = route.strip_prefix("/series/").unwrap();
    let samples = test_support::http_get(&format!("http://{}/api/metrics/series/{name}", server.local_addr()))
        .expect("the series the page shows");
    assert!(samples.contains("b1"), "{samples}");
    drop(server);
}
