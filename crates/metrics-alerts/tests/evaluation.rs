//! The in-process evaluator on a collector whose clock the test moves:
//! every expression form, the state machine, annotations, the log, and
//! states surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_alerts::{AlertStatus, Evaluator, JsonFileStore, RuleSet};
use metrics_core::clock::ManualClock;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};

struct Setup {
    clock: Arc<ManualClock>,
    collector: Arc<MetricsCollector>,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000_000_000));
    let collector = Arc::new(MetricsCollector::with_clock(MetricsConfig::default(), clock.clone()));
    Setup {
        clock,
        collector,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn evaluator(&self, rules: &str) -> Evaluator {
        let rules = RuleSet::parse("rules.toml", rules).unwrap();
        let store = JsonFileStore::new(self.dir.path().join("state").join("alerts.json"));
        Evaluator::new(rules, Arc::clone(&self.collector), Box::new(store)).unwrap()
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    fn record(&self, name: &str, value: f64, tags: &[(&str, &str)], ty: MetricType) {
        self.collector.record_metric(name, value, tags, ty).unwrap();
    }
}

/// (alertname + labels key, status) of every alert held.
fn statuses(ev: &Evaluator) -> Vec<(String, AlertStatus)> {
    ev.alerts().into_iter().map(|a| (a.key(), a.status)).collect()
}

#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedLog {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn rate_by_tag_fires_per_group_and_resolves_when_the_window_passes() {
    let s = setup();
    let mut ev = s.evaluator(
        "[[rule]]\nname = \"ErrorRate\"\nexpr = 'rate(job_errors_total[1m]) > 0.1 by (batch_id)'\n\
         labels = { severity = \"page\" }\n\
         annotations = { summary = \"{{ $value }} errors/s in {{ $labels.batch_id }}\" }\n",
    );
    s.record("job_errors", 1.0, &[("batch_id", "quiet")], MetricType::Counter);
    for _ in 0..9 {
        s.record("job_errors", 1.0, &[("batch_id", "noisy")], MetricType::Counter);
    }
    s.advance(1);
    let report = ev.evaluate();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    let a = &report.changes[0].alert;
    assert_eq!(
        (a.status, report.changes[0].from),
        (AlertStatus::Firing, AlertStatus::Inactive)
    );
    assert_eq!(a.labels["alertname"], "ErrorRate");
    assert_eq!(a.labels["batch_id"], "noisy");
    assert_eq!(a.labels["severity"], "page");
    assert_eq!(a.value, 9.0 / 60.0);
    assert_eq!(a.annotations["summary"], format!("{} errors/s in noisy", 9.0 / 60.0));
    // Still in the window: no change.
    s.advance(30);
    assert!(ev.evaluate().changes.is_empty());
    // The samples leave the 1 m window.
    s.advance(40);
    let report = ev.evaluate();
    assert_eq!(report.changes.len(), 1);
    let a = &report.changes[0].alert;
    assert_eq!(
        (report.changes[0].from, a.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(a.resolved_at, Some(s.collector.now()));
    assert!(a.fired_at.unwrap() < a.resolved_at.unwrap());
}

#[test]
fn a_gauge_threshold_with_for_goes_pending_then_firing_with_change_times() {
    let s = setup();
    let mut ev = s.evaluator("[[rule]]\nname = \"Deep\"\nexpr = 'queue_depth > 100'\nfor = \"1m\"\n");
    s.record("queue_depth", 50.0, &[], MetricType::Gauge);
    assert!(ev.evaluate().changes.is_empty());
    s.record("queue_depth", 150.0, &[], MetricType::Gauge);
    let t_pending = s.collector.now();
    assert_eq!(ev.evaluate().changes[0].alert.status, AlertStatus::Pending);
    s.advance(59);
    assert!(ev.evaluate().changes.is_empty());
    s.advance(1);
    let c = ev.evaluate().changes;
    assert_eq!(
        (c[0].from, c[0].alert.status),
        (AlertStatus::Pending, AlertStatus::Firing)
    );
    assert_eq!(c[0].alert.active_at, Some(t_pending));
    assert_eq!(c[0].alert.fired_at, Some(s.collector.now()));
    s.record("queue_depth", 10.0, &[], MetricType::Gauge);
    assert_eq!(ev.evaluate().changes[0].alert.status, AlertStatus::Resolved);
    // Pending that clears before `for` never fires: back to inactive (and dropped).
    s.record("queue_depth", 150.0, &[], MetricType::Gauge);
    assert_eq!(ev.evaluate().changes[0].alert.status, AlertStatus::Pending);
    s.record("queue_depth", 10.0, &[], MetricType::Gauge);
    let c = ev.evaluate().changes;
    assert_eq!(
        (c[0].from, c[0].alert.status),
        (AlertStatus::Pending, AlertStatus::Inactive)
    );
    assert!(statuses(&ev).is_empty());
}

#[test]
fn percentile_over_a_window_in_seconds() {
    let s = setup();
    let mut ev =
        s.evaluator("[[rule]]\nname = \"Slow\"\nexpr = 'p90(job_duration_seconds{status=\"completed\"}[10m]) > 2s'\n");
    for i in 1..=10 {
        s.record(
            "job_duration_seconds",
            f64::from(i) * 0.1,
            &[("status", "completed")],
            MetricType::Histogram,
        );
        // Slow failures do not count: the selector asks for completed jobs.
        s.record(
            "job_duration_seconds",
            30.0,
            &[("status", "failed")],
            MetricType::Histogram,
        );
    }
    assert!(ev.evaluate().changes.is_empty());
    s.record(
        "job_duration_seconds",
        5.0,
        &[("status", "completed")],
        MetricType::Histogram,
    );
    s.record(
        "job_duration_seconds",
        6.0,
        &[("status", "completed")],
        MetricType::Histogram,
    );
    let c = ev.evaluate().changes;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].alert.status, AlertStatus::Firing);
    assert!(
        c[0].alert.value > 2.0 && c[0].alert.value <= 6.0,
        "{}",
        c[0].alert.value
    );
    // Ten minutes later the slow ones are out of the window.
    s.advance(601);
    assert_eq!(ev.evaluate().changes[0].alert.status, AlertStatus::Resolved);
}

#[test]
fn ratio_of_two_increases_and_a_bare_counter_total() {
    let s = setup();
    let mut ev = s.evaluator(
        "[[rule]]\nname = \"FailRatio\"\nexpr = 'increase(job_errors_total[5m]) / increase(job_attempts_total[5m]) > 25%'\n\n\
         [[rule]]\nname = \"ManyErrors\"\nexpr = 'job_errors_total >= 3'\n",
    );
    // No attempts yet: the ratio has no value, nothing fires.
    assert!(ev.evaluate().changes.is_empty());
    for _ in 0..8 {
        s.record("job_attempts", 1.0, &[("batch_id", "b")], MetricType::Counter);
    }
    s.record("job_errors", 1.0, &[("batch_id", "b")], MetricType::Counter);
    assert!(ev.evaluate().changes.is_empty(), "1/8 is under 25%");
    s.record("job_errors", 2.0, &[("batch_id", "b")], MetricType::Counter);
    let c = ev.evaluate().changes;
    let names: Vec<&str> = c.iter().map(|c| c.alert.rule.as_str()).collect();
    assert_eq!(names, ["FailRatio", "ManyErrors"]);
    assert_eq!(c[0].alert.value, 3.0 / 8.0);
    assert_eq!(c[1].alert.value, 3.0);
}

#[test]
fn absent_fires_for_a_missing_metric_and_for_one_that_stopped_reporting() {
    let s = setup();
    let log = SharedLog::default();
    let mut ev = s
        .evaluator(
            "[[rule]]\nname = \"NoHeartbeat\"\nexpr = 'absent(heartbeat{service=\"api\"}[1m])'\n\n\
             [[rule]]\nname = \"NeverSeen\"\nexpr = 'absent(backup_runs)'\n",
        )
        .with_log(log.clone());
    s.record("heartbeat", 1.0, &[("service", "api")], MetricType::Counter);
    let c = ev.evaluate().changes;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].alert.rule, "NeverSeen");
    s.advance(30);
    s.record("heartbeat", 1.0, &[("service", "api")], MetricType::Counter);
    s.advance(59);
    assert!(
        ev.evaluate().changes.is_empty(),
        "a heartbeat 59 s ago is in the window"
    );
    s.advance(2);
    let c = ev.evaluate().changes;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].alert.rule, "NoHeartbeat");
    assert_eq!(c[0].alert.labels["service"], "api", "equality matchers become labels");
    s.record("backup_runs", 1.0, &[], MetricType::Counter);
    s.record("heartbeat", 1.0, &[("service", "api")], MetricType::Counter);
    let c = ev.evaluate().changes;
    assert!(
        c.iter().all(|c| c.alert.status == AlertStatus::Resolved) && c.len() == 2,
        "{c:?}"
    );
    let lines = log.lines();
    assert_eq!(lines.len(), 4, "one line per state change: {lines:#?}");
    assert!(
        lines[0].ends_with("alert NeverSeen{alertname=\"NeverSeen\"} inactive -> firing value=1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("alert NoHeartbeat{alertname=\"NoHeartbeat\",service=\"api\"} inactive -> firing"),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].contains("alert NeverSeen{alertname=\"NeverSeen\"} firing -> resolved"),
        "{}",
        lines[3]
    );
}

#[test]
fn a_metric_the_collector_lacks_is_logged_as_a_warning_once() {
    let s = setup();
    let log = SharedLog::default();
    let mut ev = s
        .evaluator("[[rule]]\nname = \"R\"\nexpr = 'rate(nope_total[1m]) > 1'\n")
        .with_log(log.clone());
    ev.evaluate();
    ev.evaluate();
    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("warning: rule R reads metric `nope_total`, which the collector does not have"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_restart_neither_forgets_nor_refires_a_firing_alert() {
    let s = setup();
    let rules = "[[rule]]\nname = \"Deep\"\nexpr = 'queue_depth > 100 by (queue)'\n";
    s.record("queue_depth", 150.0, &[("queue", "a")], MetricType::Gauge);
    let fired_at = {
        let mut ev = s.evaluator(rules);
        let c = ev.evaluate().changes;
        assert_eq!(c[0].alert.status, AlertStatus::Firing);
        c[0].alert.fired_at
    };
    s.advance(10);
    let mut ev = s.evaluator(rules);
    assert_eq!(
        statuses(&ev),
        [("Deep{alertname=\"Deep\",queue=\"a\"}".to_owned(), AlertStatus::Firing)]
    );
    assert!(ev.evaluate().changes.is_empty(), "still firing: not fired again");
    assert_eq!(ev.alerts()[0].fired_at, fired_at);
    s.record("queue_depth", 1.0, &[("queue", "a")], MetricType::Gauge);
    let c = ev.evaluate().changes;
    assert_eq!(
        (c[0].from, c[0].alert.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    // The resolved state is stored too.
    let ev = s.evaluator(rules);
    assert_eq!(ev.alerts()[0].status, AlertStatus::Resolved);
}

#[test]
fn a_corrupt_state_file_is_an_error_naming_it_and_is_left_alone() {
    let s = setup();
    let path = s.dir.path().join("state").join("alerts.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{not json").unwrap();
    let rules = RuleSet::parse("r.toml", "[[rule]]\nname = \"R\"\nexpr = 'x > 1'\n").unwrap();
    let e = Evaluator::new(rules, Arc::clone(&s.collector), Box::new(JsonFileStore::new(&path))).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
}

#[test]
fn the_spawned_evaluator_runs_every_interval_and_judges_once_more_on_stop() {
    let s = setup();
    let ev = s.evaluator("eval_interval = \"50ms\"\n[[rule]]\nname = \"Deep\"\nexpr = 'queue_depth > 100'\n");
    let current = ev.current();
    assert!(current.get().is_empty());
    let running = ev.spawn();
    s.record("queue_depth", 150.0, &[], MetricType::Gauge);
    // Readers on other threads see the running evaluator's alerts.
    let seen = (0..2000).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        current.get().first().map(|a| (a.rule.clone(), a.status, a.value))
    });
    assert_eq!(seen, Some(("Deep".to_owned(), AlertStatus::Firing, 150.0)));
    let ev = running.stop().unwrap();
    assert_eq!(ev.alerts()[0].status, AlertStatus::Firing);
    assert_eq!(current.get(), ev.alerts());
}

#[test]
fn an_slo_raises_its_burn_rate_alerts_in_process_with_the_exported_labels() {
    let s = setup();
    let mut ev = s.evaluator(
        "[[slo]]\nname = \"jobs\"\nsuccess = 99.0\nerrors = 'job_errors_total'\ntotal = 'job_attempts_total'\n\
         latency = \"250ms\"\npercentile = 99\nhistogram = 'job_duration_seconds'\nlabels = { team = \"data\" }\n",
    );
    // 1 error in 200 attempts: 0.5% of a 1% budget burns at 0.5x: nothing fires.
    for i in 0..200 {
        s.record("job_attempts", 1.0, &[], MetricType::Counter);
        s.record(
            "job_duration_seconds",
            if i < 199 { 0.1 } else { 1.0 },
            &[],
            MetricType::Histogram,
        );
    }
    s.record("job_errors", 1.0, &[], MetricType::Counter);
    assert!(ev.evaluate().changes.is_empty());
    // 20 more errors: 21/200 = 10.5% burns the budget 10.5x: the 6x and 1x
    // pairs fire, the 14.4x pair does not.
    s.record("job_errors", 20.0, &[], MetricType::Counter);
    let c = ev.evaluate().changes;
    let fired: Vec<(&str, &str, &str)> = c
        .iter()
        .map(|c| {
            let l = &c.alert.labels;
            (
                l["alertname"].as_str(),
                l["burn_rate"].as_str(),
                l["long_window"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        [
            ("jobs_success_budget_burn", "6", "6h"),
            ("jobs_success_budget_burn", "1", "3d")
        ]
    );
    let a = &c[0].alert;
    assert_eq!(a.labels["slo"], "jobs");
    assert_eq!(a.labels["sli"], "success");
    assert_eq!(a.labels["severity"], "page");
    assert_eq!(a.labels["short_window"], "30m");
    assert_eq!(a.labels["team"], "data");
    assert_eq!(a.value, 21.0 / 200.0);
    assert_eq!(
        a.annotations["summary"],
        "SLO jobs (success 99%): error budget burning 6x over 6h and 30m"
    );
    // 100 slow jobs: 101/300 slower than 250ms, 33x a 1% budget: every latency pair fires.
    for _ in 0..100 {
        s.record("job_duration_seconds", 0.5, &[], MetricType::Histogram);
    }
    let c = ev.evaluate().changes;
    assert_eq!(c.len(), 3, "{c:?}");
    assert!(
        c.iter()
            .all(|c| c.alert.labels["sli"] == "latency" && c.alert.status == AlertStatus::Firing)
    );
    // The other burn-rate alerts of the same objective stay firing.
    assert_eq!(
        ev.alerts().iter().filter(|a| a.status == AlertStatus::Firing).count(),
        5
    );
    // Past the short windows the burning has stopped: the pairs resolve.
    s.advance(31 * 60);
    let c = ev.evaluate().changes;
    assert!(c.iter().all(|c| c.alert.status == AlertStatus::Resolved));
    let resolved: BTreeSet<String> = c
        .iter()
        .map(|c| format!("{}/{}", c.alert.labels["sli"], c.alert.labels["burn_rate"]))
        .collect();
    assert_eq!(
        resolved,
        BTreeSet::from([
            "latency/14.4".to_owned(),
            "latency/6".to_owned(),
            "success/6".to_owned()
        ])
    );
}

#[test]
fn the_stored_state_carries_the_latest_value_and_annotations() {
    use metrics_alerts::AlertStateStore;
    let s = setup();
    let mut ev = s.evaluator(
        "[[rule]]\nname = \"Deep\"\nexpr = 'queue_depth > 100'\nannotations = { summary = \"depth {{ $value }}\" }\n",
    );
    s.record("queue_depth", 150.0, &[], MetricType::Gauge);
    ev.evaluate();
    s.record("queue_depth", 300.0, &[], MetricType::Gauge);
    assert!(ev.evaluate().changes.is_empty());
    let stored = JsonFileStore::new(s.dir.path().join("state").join("alerts.json"))
        .load()
        .unwrap();
    assert_eq!(
        (stored[0].value, stored[0].annotations["summary"].as_str()),
        (300.0, "depth 300")
    );
}
