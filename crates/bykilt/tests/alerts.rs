//! `bykilt alerts check|status|export-rules`, `batch run --alerts` and
//! `serve --alerts`, end to end, against the real Alertmanager, promtool
//! and Prometheus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Sandbox, text};
use test_support::{
    Alertmanager, Killed, Prometheus, WebhookReceiver, free_port, have_alertmanager, have_prometheus, have_promtool,
    http_get, poll,
};

const RULES: &str = r#"
eval_interval = "200ms"

[[rule]]
name = "JobsFailing"
expr = 'job_errors_total >= 4 by (batch_id)'
labels = { severity = "page" }
annotations = { summary = "{{ $value }} failed jobs in {{ $labels.batch_id }}" }

[[rule]]
name = "AnyFailed"
expr = 'job_status_total{status="failed"} > 0'

"#;

/// An objective on the same batch metrics (its burn-rate alerts fire in
/// process too, so the tests comparing alert sets leave it out).
const SLO: &str = r#"
[[slo]]
name = "jobs"
success = 99.0
errors = "job_errors_total"
total = "job_duration_seconds_count"
"#;

fn failing_batch(s: &Sandbox, extra: &[&str]) -> std::process::Output {
    s.write("in.csv", b"n\n1\n2\n3\n4\n");
    s.write("alerts.toml", RULES.as_bytes());
    let mut args = vec!["batch", "run", "in.csv", "--exec", "exit 1", "--alerts", "alerts.toml"];
    args.extend_from_slice(extra);
    s.run(&args)
}

#[test]
fn check_exits_2_naming_file_line_and_token_and_0_on_a_good_file() {
    let s = Sandbox::new();
    s.write(
        "bad.toml",
        b"[[rule]]\nname = \"X\"\nexpr = 'rate(job_errors_total[5q]) > 1'\n",
    );
    let out = s.run(&["alerts", "check", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:3:31: at `5q`: expected a window"), "{err}");
    s.write("good.toml", format!("{RULES}{SLO}").as_bytes());
    let out = s.run(&["alerts", "check", "good.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("good.toml: 2 rule(s), 1 slo(s), 0 warning(s)"));
    assert!(
        text(&out.stderr).contains("metric names were not checked"),
        "{}",
        text(&out.stderr)
    );
    // A missing file is an error too.
    let out = s.run(&["alerts", "check", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope.toml"), "{}", text(&out.stderr));
    // --alertmanager needs --alerts.
    let out = s.run(&[
        "batch",
        "run",
        "in.csv",
        "--exec",
        "true",
        "--alertmanager",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // So does a receiver this build cannot reach.
    s.write("in.csv", b"n\n1\n");
    let out = s.run(&[
        "batch",
        "run",
        "in.csv",
        "--exec",
        "true",
        "--alerts",
        "good.toml",
        "--webhook",
        "https://hook.example/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--webhook https://hook.example/x: only http:// receivers"),
        "{}",
        text(&out.stderr)
    );
    // A bad rules file stops a batch before it starts.
    s.write("in.csv", b"n\n1\n");
    let out = s.run(&["batch", "run", "in.csv", "--exec", "true", "--alerts", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bad.toml:3:31"), "{}", text(&out.stderr));
    assert!(batch_engine::list_batches(&s.root()).unwrap_or_default().is_empty());
}

#[test]
fn batch_run_with_alerts_logs_the_change_keeps_the_state_and_check_warns_on_unknown_metrics() {
    let s = Sandbox::new();
    let out = failing_batch(&s, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("alert JobsFailing{alertname=\"JobsFailing\",batch_id=\"batch-"),
        "{err}"
    );
    assert!(err.contains("inactive -> firing value=4"), "{err}");
    let status = s.run(&["alerts", "status", "--json"]);
    assert_eq!(status.status.code(), Some(0));
    let alerts: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let rules: BTreeSet<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, BTreeSet::from(["AnyFailed", "JobsFailing"]));
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "firing" && a["fired_at"].is_string())
    );
    let human = text(&s.run(&["alerts", "status"]).stdout);
    assert!(human.contains("firing    JobsFailing{"), "{human}");
    // Now that a run exists, a rule on a metric it never produced is a warning.
    s.write(
        "typo.toml",
        b"[[rule]]\nname = \"T\"\nexpr = 'rate(job_eror_total[1m]) > 1'\n",
    );
    let out = s.run(&["alerts", "check", "typo.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "warning: typo.toml:3:1: at `job_eror_total`: rule T reads metric `job_eror_total`, which no run produced"
        ),
        "{err}"
    );
    assert!(text(&s.run(&["alerts", "check", "alerts.toml"]).stdout).contains("0 warning(s)"));
}

#[test]
fn batch_run_sends_its_alert_to_alertmanager() {
    if !have_alertmanager() {
        return;
    }
    let am = Alertmanager::start();
    let s = Sandbox::new();
    let out = failing_batch(&s, &["--alertmanager", &am.url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let alert = poll(Duration::from_secs(30), || {
        am.alerts()?
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "JobsFailing")
    })
    .unwrap_or_else(|| panic!("not in alertmanager: {:?}\n{}", am.alerts(), text(&out.stderr)));
    assert_eq!(alert["labels"]["severity"], "page");
    assert!(alert["labels"]["batch_id"].as_str().unwrap().starts_with("batch-"));
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("4 failed jobs in batch-")
    );
}

#[test]
fn export_rules_passes_promtool() {
    if !have_promtool() {
        return;
    }
    let s = Sandbox::new();
    failing_batch(&s, &[]);
    s.write("alerts.toml", format!("{RULES}{SLO}").as_bytes());
    let out = s.run(&["alerts", "export-rules", "alerts.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains(r#"expr: "sum by (batch_id) (job_errors_total) >= 4""#),
        "{yaml}"
    );
    assert!(yaml.contains("job_duration_seconds_count[1h]"), "{yaml}");
    assert!(
        !text(&out.stderr).contains("not a bucket bound"),
        "{}",
        text(&out.stderr)
    );
    s.write("rules.yml", yaml.as_bytes());
    let check = std::process::Command::new("promtool")
        .args(["check", "rules", "rules.yml"])
        .current_dir(s.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}{}", text(&check.stdout), text(&check.stderr));
    // A latency that is not a bucket bound would never match a bucket: warned.
    s.write(
        "slow.toml",
        b"[[slo]]\nname = \"slow\"\nlatency = \"300ms\"\npercentile = 99\nhistogram = \"job_duration_seconds\"\n",
    );
    let out = s.run(&["alerts", "export-rules", "slow.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("slo slow: latency 0.3s is not a bucket bound of job_duration_seconds"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn prometheus_scraping_bykilt_serve_fires_what_serve_alerts_reports() {
    if !have_prometheus() {
        return;
    }
    let s = Sandbox::new();
    failing_batch(&s, &[]);
    // Start from no stored state, so what we compare is what `serve` evaluates:
    // the states live in the metrics database, which `serve` on a run does not need.
    std::fs::remove_file(s.root().join("metrics.db")).unwrap();
    for extra in ["metrics.db-wal", "metrics.db-shm"] {
        let _ = std::fs::remove_file(s.root().join(extra));
    }
    let yaml = text(&s.run(&["alerts", "export-rules", "alerts.toml"]).stdout);
    let listen = format!("127.0.0.1:{}", free_port());
    let serve = Killed(s.spawn(&["serve", "--listen", &listen, "--alerts", "alerts.toml"]));
    assert!(
        poll(Duration::from_secs(20), || http_get(&format!(
            "http://{listen}/healthz"
        )))
        .is_some()
    );
    let prometheus = Prometheus::scraping_with_rules(&listen, &yaml);
    let ours = poll(Duration::from_secs(20), || {
        let out = s.run(&["alerts", "status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let firing: BTreeSet<BTreeMap<String, String>> = v
            .as_array()?
            .iter()
            .filter(|a| a["status"] == "firing")
            .filter_map(|a| serde_json::from_value(a["labels"].clone()).ok())
            .collect();
        (firing.len() == 2).then_some(firing)
    })
    .expect("serve --alerts never reported two firing alerts");
    let theirs = poll(Duration::from_secs(40), || {
        let firing: BTreeSet<BTreeMap<String, String>> = prometheus
            .alerts()?
            .iter()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| serde_json::from_value(a["labels"].clone()).ok())
            .collect();
        (firing == ours).then_some(firing)
    });
    assert!(
        theirs.is_some(),
        "prometheus: {:?}\nours: {ours:?}",
        prometheus.alerts()
    );
    drop(serve);
}

#[test]
fn batch_run_posts_to_the_webhook_and_resume_takes_alerts_too() {
    let hook = WebhookReceiver::start(1);
    let s = Sandbox::new();
    let out = failing_batch(&s, &["--webhook", &hook.url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let got = hook.accepted();
    assert_eq!(hook.requests(), 3, "one refused, then one notification per firing rule");
    let rules: BTreeSet<&str> = got
        .iter()
        .map(|n| n["groupLabels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(rules, BTreeSet::from(["AnyFailed", "JobsFailing"]));
    assert!(got.iter().all(|n| n["status"] == "firing" && n["version"] == "4"));
    // `resume` evaluates the same rules; the firing alerts are not fired again.
    let batch = batch_engine::list_batches(&s.root()).unwrap()[0].batch_id.clone();
    let out = s.run(&[
        "batch",
        "resume",
        &batch,
        "--alerts",
        "alerts.toml",
        "--webhook",
        &hook.url,
    ]);
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("inactive -> firing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(hook.accepted().len(), 2);
}

/// The alerts `bykilt alerts status --json` lists, by rule: status and fired_at.
fn stored_states(s: &Sandbox, extra: &[&str]) -> BTreeMap<String, (String, String)> {
    let mut args = vec!["alerts", "status", "--json"];
    args.extend_from_slice(extra);
    let out = s.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_owned(),
                (
                    a["status"].as_str().unwrap().to_owned(),
                    a["fired_at"].as_str().unwrap_or("-").to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn alert_states_live_in_the_metrics_database_so_a_restart_neither_refires_nor_forgets() {
    let hook = WebhookReceiver::start(0);
    let s = Sandbox::new();
    let out = failing_batch(&s, &["--webhook", &hook.url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("inactive -> firing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(hook.accepted().len(), 2, "one notification per firing rule");
    // The states are in the database's state table, not in a side file.
    assert!(!s.root().join("alerts").join("state.json").exists());
    let db = s.root().join("metrics.db");
    let saved = metrics_store::StoreReader::open(&db)
        .unwrap()
        .get_state("alerts", "states")
        .unwrap()
        .expect("no alert states in the metrics database");
    assert!(String::from_utf8_lossy(&saved).contains("JobsFailing"));
    let before = stored_states(&s, &[]);
    assert_eq!(
        before.keys().map(String::as_str).collect::<Vec<_>>(),
        ["AnyFailed", "JobsFailing"]
    );
    assert!(
        before
            .values()
            .all(|(status, fired)| status == "firing" && fired != "-"),
        "{before:?}"
    );
    assert_eq!(stored_states(&s, &["--db", db.to_str().unwrap()]), before);

    // A restart (resume, a new process) loads them: nothing fires again and
    // the firing alerts keep the time they fired.
    let batch = batch_engine::list_batches(&s.root()).unwrap()[0].batch_id.clone();
    let out = s.run(&[
        "batch",
        "resume",
        &batch,
        "--alerts",
        "alerts.toml",
        "--webhook",
        &hook.url,
    ]);
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("-> firing"), "{}", text(&out.stderr));
    assert_eq!(hook.accepted().len(), 2, "a restart does not notify again");
    assert_eq!(stored_states(&s, &[]), before);

    // `serve --alerts` reads and keeps the same states.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut serve = Killed(s.spawn(&["serve", "--listen", &listen, "--alerts", "alerts.toml"]));
    assert!(
        poll(Duration::from_secs(20), || http_get(&format!(
            "http://{listen}/healthz"
        )))
        .is_some()
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(stored_states(&s, &[]), before);
    serve.0.kill().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut serve.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("states in ") && err.contains("metrics.db"), "{err}");
    assert!(!err.contains("-> firing"), "{err}");
}

#[test]
fn with_no_db_alert_states_stay_in_the_json_file() {
    let s = Sandbox::new();
    let out = failing_batch(&s, &["--no-db"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!s.root().join("metrics.db").exists());
    let file = s.root().join("alerts").join("state.json");
    assert!(file.exists());
    let states = stored_states(&s, &[]);
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(stored_states(&s, &["--state", file.to_str().unwrap()]), states);
}

#[test]
fn windows_read_the_metrics_database_so_a_later_batch_sees_an_earlier_ones_errors() {
    let s = Sandbox::new();
    // First batch: 4 failed jobs, no alerting.
    s.write("first.csv", b"n\n1\n2\n3\n4\n");
    let out = s.run(&["batch", "run", "first.csv", "--exec", "exit 1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // Second batch, another process: 2 failed jobs. Over the last hour the
    // database holds 6 errors; this run's collector alone holds 2.
    s.write(
        "window.toml",
        b"eval_interval = \"200ms\"\n[[rule]]\nname = \"ManyErrors\"\nexpr = 'increase(job_errors_total[1h]) > 5'\n",
    );
    s.write("second.csv", b"n\n1\n2\n");
    let out = s.run(&[
        "batch",
        "run",
        "second.csv",
        "--exec",
        "exit 1",
        "--alerts",
        "window.toml",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("whose samples windows also read"), "{err}");
    assert!(
        err.contains("alert ManyErrors{alertname=\"ManyErrors\"} inactive -> firing value=6"),
        "{err}"
    );
    // Without the database the same rule sees this run's 2 errors only.
    let s = Sandbox::new();
    s.write(
        "window.toml",
        b"[[rule]]\nname = \"ManyErrors\"\nexpr = 'increase(job_errors_total[1h]) > 5'\n",
    );
    s.write("first.csv", b"n\n1\n2\n3\n4\n");
    let out = s.run(&["batch", "run", "first.csv", "--exec", "exit 1", "--no-db"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    s.write("second.csv", b"n\n1\n2\n");
    let out = s.run(&[
        "batch",
        "run",
        "second.csv",
        "--exec",
        "exit 1",
        "--alerts",
        "window.toml",
        "--no-db",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("-> firing"), "{}", text(&out.stderr));
}
