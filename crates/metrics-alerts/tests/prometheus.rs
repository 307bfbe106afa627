//! A real Prometheus 2.42 scrapes our /metrics and loads the rules exported
//! from the same file our evaluator runs: both report the same alerts firing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use metrics_alerts::export::{KindHints, export_rules};
use metrics_alerts::{AlertStatus, Evaluator, JsonFileStore, RuleSet, kind_of};
use metrics_api::{ApiState, spawn_server};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, SamplePolicy};
use test_support::{Prometheus, have_prometheus, poll};

const RULES: &str = r#"
eval_interval = "1s"

[[rule]]
name = "QueueDeep"
expr = 'queue_depth > 100 by (queue)'
labels = { severity = "page" }

[[rule]]
name = "JobErrors"
expr = 'increase(job_errors_total[1m]) > 0 by (batch_id)'
labels = { severity = "ticket" }

[[rule]]
name = "ErrorTotal"
expr = 'job_errors_total >= 5'
"#;

type LabelSet = BTreeMap<String, String>;

fn firing_in_prometheus(p: &Prometheus) -> Option<BTreeSet<LabelSet>> {
    let alerts = p.alerts()?;
    Some(
        alerts
            .iter()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| serde_json::from_value::<LabelSet>(a["labels"].clone()).ok())
            .collect(),
    )
}

#[test]
fn prometheus_running_the_exported_rules_fires_the_same_alerts_as_our_evaluator() {
    if !have_prometheus() {
        return;
    }
    let collector = Arc::new(MetricsCollector::default());
    collector
        .describe_metric(
            "job_errors",
            MetricType::Counter,
            MetricOptions {
                sample_policy: Some(SamplePolicy::EveryEvent),
                ..MetricOptions::default()
            },
        )
        .unwrap();
    let bad = collector.counter("job_errors", &[("batch_id", "bad")]).unwrap();
    let _good = collector.counter("job_errors", &[("batch_id", "good")]).unwrap();
    collector.set_gauge("queue_depth", &[("queue", "a")], 150.0).unwrap();
    collector.set_gauge("queue_depth", &[("queue", "b")], 5.0).unwrap();

    let rules = RuleSet::parse("rules.toml", RULES).unwrap();
    // Name the series by what the live collector says they are.
    let hints = KindHints(
        collector
            .list_series()
            .into_iter()
            .map(|s| (s.name, kind_of(s.metric_type)))
            .collect(),
    );
    let yaml = export_rules(&rules, &hints);

    let server = spawn_server("127.0.0.1:0".parse().unwrap(), ApiState::new(Arc::clone(&collector))).unwrap();
    let prometheus = Prometheus::scraping_with_rules(&server.local_addr().to_string(), &yaml);
    // Prometheus must see the counters at zero before they move, or it
    // sees no increase.
    assert!(
        prometheus
            .query_until("sum(job_errors_total)", Duration::from_secs(30))
            .is_some(),
        "prometheus never scraped us: {:?}",
        prometheus.first_target()
    );
    bad.increment(5);

    let dir = tempfile::tempdir().unwrap();
    let mut ev = Evaluator::new(
        rules,
        Arc::clone(&collector),
        Box::new(JsonFileStore::new(dir.path().join("s.json"))),
    )
    .unwrap();
    ev.evaluate();
    let ours: BTreeSet<LabelSet> = ev
        .alerts()
        .into_iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .map(|a| a.labels)
        .collect();
    let expected: BTreeSet<LabelSet> = [
        vec![("alertname", "QueueDeep"), ("queue", "a"), ("severity", "page")],
        vec![("alertname", "JobErrors"), ("batch_id", "bad"), ("severity", "ticket")],
        vec![("alertname", "ErrorTotal")],
    ]
    .into_iter()
    .map(|l| l.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    .collect();
    assert_eq!(ours, expected);
    let theirs = poll(Duration::from_secs(30), || {
        firing_in_prometheus(&prometheus).filter(|f| *f == ours)
    });
    assert!(
        theirs.is_some(),
        "prometheus fires {:?}\nwe fire {ours:?}\nrules:\n{yaml}",
        firing_in_prometheus(&prometheus)
    );
    server.shutdown();
}
