//! The exported rules against the real `promtool`: `check rules` passes on
//! every exported file, and `test rules` passes on generated tests that feed
//! series and expect each alert to fire at the right time (and not before).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use metrics_alerts::RuleSet;
use metrics_alerts::export::{KindHints, export_rules};
use test_support::have_promtool;

const ALL_FORMS: &str = r#"
eval_interval = "30s"

[metric_types]
jobs_in_flight = "gauge"
request = "timer"

[[rule]]
name = "JobErrorRate"
expr = 'rate(job_errors_total[5m]) > 0.1 by (batch_id)'
for = "1m"
labels = { severity = "page" }
annotations = { summary = "job errors in batch {{ $labels.batch_id }}", value = "{{ $value }}" }

[[rule]]
name = "TooManyInFlight"
expr = "jobs_in_flight >= 8"

[[rule]]
name = "ErrorBurst"
expr = 'increase(job_errors{error_type!="timeout"}[1h]) > 3'

[[rule]]
name = "SlowJobs"
expr = 'p99(job_duration_seconds{status="completed"}[10m]) > 2s by (batch_id)'

[[rule]]
name = "SlowRequests"
expr = 'p95(request{route="/a\"b"}[5m]) > 250ms'

[[rule]]
name = "FailRatio"
expr = 'increase(job_errors_total[5m]) / increase(job_status_total[5m]) > 5% by (batch_id)'

[[rule]]
name = "NoHeartbeat"
expr = 'absent(heartbeat{service="api"}[10m])'

[[rule]]
name = "NeverRan"
expr = 'absent(batch_created_total)'

[[slo]]
name = "jobs"
success = 99.9
errors = 'job_errors_total'
total = 'job_attempts_total'
latency = "250ms"
percentile = 99
histogram = 'job_duration_seconds'
labels = { team = "data" }
"#;

fn export(text: &str) -> String {
    export_rules(&RuleSet::parse("alerts.toml", text).unwrap(), &KindHints::default())
}

fn promtool(args: &[&str], dir: &Path) -> (i32, String) {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn exported_rules_use_our_exposition_names() {
    let yaml = export(ALL_FORMS);
    for want in [
        r#"expr: "sum by (batch_id) (rate(job_errors_total[5m])) > 0.1""#,
        r#"expr: "max (jobs_in_flight) >= 8""#,
        r#"expr: "sum (increase(job_errors_total{error_type!=\"timeout\"}[1h])) > 3""#,
        r#"expr: "histogram_quantile(0.99, sum by (batch_id, le) (rate(job_duration_seconds_bucket{status=\"completed\"}[10m]))) > 2""#,
        r#"histogram_quantile(0.95, sum by (le) (rate(request_seconds_bucket{route=\"/a\\\"b\"}[5m]))) > 0.25"#,
        r#"expr: "(sum by (batch_id) (increase(job_errors_total[5m]))) / (sum by (batch_id) (increase(job_status_total[5m]))) > 0.05""#,
        r#"expr: "absent_over_time(heartbeat{service=\"api\"}[10m])""#,
        r#"expr: "absent(batch_created_total)""#,
        r#"job_duration_seconds_bucket{le=\"0.25\"}"#,
        "record: slo:sli_error:ratio_rate3d",
    ] {
        assert!(yaml.contains(want), "missing {want}\n{yaml}");
    }
}

#[test]
fn promtool_check_rules_passes_on_every_exported_file() {
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("all.yml", ALL_FORMS.to_owned()),
        ("empty.yml", String::new()),
        ("slo-only.yml", "[[slo]]\nname = \"api\"\nlatency = \"100ms\"\npercentile = 95\nhistogram = 'http_request_seconds{route=\"/\"}'\n".to_owned()),
        ("one.yml", "[[rule]]\nname = \"A\"\nexpr = 'x > 1'\n".to_owned()),
    ];
    for (name, text) in files {
        let yaml = export(&text);
        std::fs::write(dir.path().join(name), &yaml).unwrap();
        let (code, out) = promtool(&["check", "rules", name], dir.path());
        assert_eq!(code, 0, "promtool check rules {name}:\n{out}\n{yaml}");
        assert!(out.contains("SUCCESS"), "{out}");
    }
}

/// The SLO group holds 5 recording rules and 3 burn-rate alerts per objective.
#[test]
fn an_slo_generates_recording_rules_and_three_burn_rate_alerts_per_objective() {
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.yml"), export(ALL_FORMS)).unwrap();
    let (code, out) = promtool(&["check", "rules", "all.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    // 8 rule alerts + 2 objectives x (5 recording + 3 alerts).
    assert!(out.contains("24 rules found"), "{out}");
}

const TEST_RULES: &str = r#"
[[rule]]
name = "JobErrorRate"
expr = 'rate(job_errors_total[5m]) > 0.1 by (batch_id)'
for = "2m"
labels = { severity = "page" }
annotations = { summary = "job errors in batch {{ $labels.batch_id }}" }

[[slo]]
name = "jobs"
success = 99.9
errors = 'job_errors_total'
total = 'job_attempts_total'
latency = "250ms"
percentile = 99
histogram = 'job_duration_seconds'
"#;

const PROMTOOL_TEST: &str = r#"
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # batch b1 fails one job a second from minute 0; b2 never fails.
      - series: 'job_errors_total{batch_id="b1"}'
        values: '0+60x30'
      - series: 'job_errors_total{batch_id="b2"}'
        values: '0x30'
      - series: 'job_attempts_total{batch_id="b1"}'
        values: '0+600x30'
      - series: 'job_duration_seconds_bucket{le="0.25"}'
        values: '0+60x30'
      - series: 'job_duration_seconds_bucket{le="+Inf"}'
        values: '0+100x30'
      - series: 'job_duration_seconds_count'
        values: '0+100x30'
    alert_rule_test:
      # At 1m the rate first has two points: pending, not yet firing.
      - eval_time: 1m
        alertname: JobErrorRate
        exp_alerts: []
      - eval_time: 2m
        alertname: JobErrorRate
        exp_alerts: []
      # Held for the 2m `for`: firing, for b1 only, with our labels.
      - eval_time: 3m
        alertname: JobErrorRate
        exp_alerts:
          - exp_labels:
              alertname: JobErrorRate
              batch_id: b1
              severity: page
            exp_annotations:
              summary: "job errors in batch b1"
      # 10% errors burn a 0.1% budget 100x: every window pair fires.
      - eval_time: 10m
        alertname: jobs_success_budget_burn
        exp_alerts:
          - exp_labels: {slo: jobs, sli: success, severity: page, burn_rate: "14.4", long_window: 1h, short_window: 5m}
            exp_annotations: {summary: "SLO jobs (success 99.9%): error budget burning 14.4x over 1h and 5m"}
          - exp_labels: {slo: jobs, sli: success, severity: page, burn_rate: "6", long_window: 6h, short_window: 30m}
            exp_annotations: {summary: "SLO jobs (success 99.9%): error budget burning 6x over 6h and 30m"}
          - exp_labels: {slo: jobs, sli: success, severity: ticket, burn_rate: "1", long_window: 3d, short_window: 6h}
            exp_annotations: {summary: "SLO jobs (success 99.9%): error budget burning 1x over 3d and 6h"}
      # 40% of jobs slower than 250ms against a 1% budget.
      - eval_time: 10m
        alertname: jobs_latency_budget_burn
        exp_alerts:
          - exp_labels: {slo: jobs, sli: latency, severity: page, burn_rate: "14.4", long_window: 1h, short_window: 5m}
            exp_annotations: {summary: "SLO jobs (latency 99%): error budget burning 14.4x over 1h and 5m"}
          - exp_labels: {slo: jobs, sli: latency, severity: page, burn_rate: "6", long_window: 6h, short_window: 30m}
            exp_annotations: {summary: "SLO jobs (latency 99%): error budget burning 6x over 6h and 30m"}
          - exp_labels: {slo: jobs, sli: latency, severity: ticket, burn_rate: "1", long_window: 3d, short_window: 6h}
            exp_annotations: {summary: "SLO jobs (latency 99%): error budget burning 1x over 3d and 6h"}
    promql_expr_test:
      - expr: 'slo:sli_error:ratio_rate5m{slo="jobs",sli="success"}'
        eval_time: 10m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{slo="jobs",sli="success"}'
            value: 0.1
"#;

#[test]
fn promtool_test_rules_sees_each_alert_fire_at_the_right_time() {
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), export(TEST_RULES)).unwrap();
    std::fs::write(dir.path().join("test.yml"), PROMTOOL_TEST).unwrap();
    let (code, out) = promtool(&["test", "rules", "test.yml"], dir.path());
    assert_eq!(code, 0, "promtool test rules:\n{out}\n{}", export(TEST_RULES));
    // And the test can fail: expecting the alert a minute early does.
    let early = PROMTOOL_TEST.replacen("eval_time: 2m\n        alertname: JobErrorRate\n        exp_alerts: []", "eval_time: 2m\n        alertname: JobErrorRate\n        exp_alerts: [{exp_labels: {alertname: JobErrorRate, batch_id: b1, severity: page}}]", 1);
    assert_ne!(early, PROMTOOL_TEST);
    std::fs::write(dir.path().join("early.yml"), early).unwrap();
    let (code, out) = promtool(&["test", "rules", "early.yml"], dir.path());
    assert_ne!(code, 0, "{out}");
}

/// Feeds the same series to our evaluator (minute by minute, on a manual
/// clock) and writes a `promtool test rules` file whose expected alerts at
/// every minute are the ones our evaluator fired: Prometheus must agree on
/// when each alert fires and stops.
#[test]
fn promtool_agrees_with_our_evaluator_minute_by_minute_on_a_generated_test() {
    use metrics_alerts::{AlertStatus, Evaluator, JsonFileStore};
    use metrics_core::clock::ManualClock;
    use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
    use std::sync::Arc;
    use std::time::Duration;

    if !have_promtool() {
        return;
    }
    let text = r#"
[[rule]]
name = "ErrorRate"
expr = 'rate(job_errors_total[5m]) > 0.1 by (batch_id)'
for = "2m"
labels = { severity = "page" }
annotations = { summary = "errors in {{ $labels.batch_id }}" }

[[rule]]
name = "QueueDeep"
expr = 'queue_depth > 100 by (queue)'
for = "1m"
"#;
    let rules = RuleSet::parse("alerts.toml", text).unwrap();
    let yaml = export_rules(&rules, &KindHints::default());
    let clock = Arc::new(ManualClock::new(0));
    let collector = Arc::new(MetricsCollector::with_clock(MetricsConfig::default(), clock.clone()));
    let dir = tempfile::tempdir().unwrap();
    let mut ev = Evaluator::new(
        rules,
        Arc::clone(&collector),
        Box::new(JsonFileStore::new(dir.path().join("s.json"))),
    )
    .unwrap();
    // b1 fails a job a second during minutes 1-6, then stops; b2 never fails.
    let errors_per_minute = |m: u32| if (1..=6).contains(&m) { 60.0 } else { 0.0 };
    let depth = [
        50.0, 150.0, 150.0, 150.0, 20.0, 20.0, 180.0, 180.0, 180.0, 180.0, 180.0, 180.0, 180.0, 20.0, 20.0,
    ];
    let minutes = depth.len() as u32;
    let (mut b1, mut b1_total) = (Vec::new(), 0.0);
    let mut tests = String::new();
    for m in 0..minutes {
        if m > 0 {
            clock.advance(Duration::from_secs(60));
        }
        b1_total += errors_per_minute(m);
        b1.push(b1_total.to_string());
        if errors_per_minute(m) > 0.0 {
            collector
                .record_metric(
                    "job_errors",
                    errors_per_minute(m),
                    &[("batch_id", "b1")],
                    MetricType::Counter,
                )
                .unwrap();
        }
        collector
            .record_metric("job_errors", 0.0, &[("batch_id", "b2")], MetricType::Counter)
            .unwrap();
        collector
            .record_metric("queue_depth", depth[m as usize], &[("queue", "a")], MetricType::Gauge)
            .unwrap();
        ev.evaluate();
        for rule in ["ErrorRate", "QueueDeep"] {
            tests.push_str(&format!(
                "      - eval_time: {m}m\n        alertname: {rule}\n        exp_alerts:"
            ));
            let firing: Vec<_> = ev
                .alerts()
                .into_iter()
                .filter(|a| a.rule == rule && a.status == AlertStatus::Firing)
                .collect();
            if firing.is_empty() {
                tests.push_str(" []\n");
            } else {
                tests.push('\n');
            }
            for a in firing {
                let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
                let notes: Vec<String> = a.annotations.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
                tests.push_str(&format!(
                    "          - exp_labels: {{{}}}\n            exp_annotations: {{{}}}\n",
                    labels.join(", "),
                    notes.join(", ")
                ));
            }
        }
    }
    let b2 = vec!["0"; minutes as usize].join(" ");
    let depth_values: Vec<String> = depth.iter().map(ToString::to_string).collect();
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n\
         \x20     - series: 'job_errors_total{{batch_id=\"b1\"}}'\n        values: '{}'\n\
         \x20     - series: 'job_errors_total{{batch_id=\"b2\"}}'\n        values: '{b2}'\n\
         \x20     - series: 'queue_depth{{queue=\"a\"}}'\n        values: '{}'\n    alert_rule_test:\n{tests}",
        b1.join(" "),
        depth_values.join(" ")
    );
    // Our evaluator did fire both, and stopped both: the test checks transitions.
    assert!(test.contains("alertname: \"ErrorRate\""), "{test}");
    assert!(test.contains("alertname: \"QueueDeep\""), "{test}");
    std::fs::write(dir.path().join("rules.yml"), &yaml).unwrap();
    std::fs::write(dir.path().join("test.yml"), &test).unwrap();
    let (code, out) = promtool(&["test", "rules", "test.yml"], dir.path());
    assert_eq!(code, 0, "promtool test rules:\n{out}\n{test}\n{yaml}");
}
