//! The dashboard's routes over a real socket: the page and its assets
//! (served from the binary, no token), `/api/runs`, `/api/runs/{id}`, `/api/alerts` and
//! `/api/metrics/overview` (behind the token like the rest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_api::dashboard::{AlertBoard, AlertView, RunCatalog, RunProgress};
use metrics_api::{ApiState, ServerHandle, spawn_server};
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use serde_json::Value;

#[derive(Debug, Default)]
struct FakeRuns(Mutex<Vec<RunProgress>>);

impl RunCatalog for FakeRuns {
    fn runs(&self) -> Result<Vec<RunProgress>, String> {
        Ok(self.0.lock().unwrap().clone())
    }
}

#[derive(Debug)]
struct BrokenRuns;

impl RunCatalog for BrokenRuns {
    fn runs(&self) -> Result<Vec<RunProgress>, String> {
        Err("runs/ is not readable".into())
    }
}

fn run(id: &str, completed: usize, pending: usize, live: bool) -> RunProgress {
    RunProgress {
        run_id: id.into(),
        batch_id: format!("batch-{id}"),
        created_at: 1.0,
        total: completed + pending + 1,
        pending,
        running: 1,
        interrupted: 0,
        completed,
        failed: 0,
        stopped: 0,
        started_at: Some(10.0),
        last_completed_at: Some(20.0),
        duration_seconds: Some(10.0),
        run_seconds: Some(10.0),
        throughput_per_second: Some(completed as f64 / 10.0),
        live,
        open: live,
        served: live,
    }
}

struct Api {
    server: ServerHandle,
    agent: ureq::Agent,
}

impl Api {
    fn start(token: Option<&str>, runs: Option<Arc<dyn RunCatalog>>) -> (Api, Arc<MetricsCollector>) {
        let collector = Arc::new(MetricsCollector::new(MetricsConfig::default()));
        let mut state = ApiState::new(Arc::clone(&collector))
            .with_token(token.map(str::to_owned))
            .unwrap();
        if let Some(r) = runs {
            state = state.with_runs(r);
        }
        let server = spawn_server("127.0.0.1:0".parse().unwrap(), state).unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        (Api { server, agent }, collector)
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, String, String) {
        let mut req = self.agent.get(&format!("http://{}{path}", self.server.local_addr()));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().unwrap();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (resp.status().as_u16(), ctype, resp.body_mut().read_to_string().unwrap())
    }

    fn json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let (s, _, b) = self.get(path, token);
        (s, serde_json::from_str(&b).unwrap())
    }
}

#[test]
fn page_and_assets_are_served_without_the_token_and_load_nothing_from_outside() {
    let (api, _) = Api::start(Some("t0k"), None);
    let (status, ctype, html) = api.get("/", None);
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
    assert!(
        html.contains("/dashboard/app.js") && html.contains("token-form"),
        "{html}"
    );
    for (path, ctype) in [
        ("/dashboard/style.css", "text/css; charset=utf-8"),
        ("/dashboard/chart.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
    ] {
        let (s, c, body) = api.get(path, None);
        assert_eq!((s, c.as_str()), (200, ctype), "{path}");
        assert!(body.len() > 500, "{path}");
        // Offline: no absolute URL is fetched by the page.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} loads from outside"
        );
        // Every time on the page is UTC: nothing formats in the browser's zone.
        for local in [
            "toLocaleTimeString",
            "toLocaleString",
            "toLocaleDateString",
            "getHours()",
        ] {
            assert!(!body.contains(local), "{path} formats a local time ({local})");
        }
    }
    assert!(!html.contains("https://"));
    // The data routes stay behind the token.
    for path in ["/api/runs", "/api/metrics/overview", "/api/runs/x"] {
        assert_eq!(api.get(path, None).0, 401, "{path}");
    }
    assert_eq!(api.json("/api/runs", Some("t0k")), (200, serde_json::json!([])));
    assert_eq!(api.get("/api/alerts", None).0, 401);
    assert_eq!(api.json("/api/alerts", Some("t0k")), (200, serde_json::json!([])));
}

#[derive(Debug, Default)]
struct FakeBoard(Mutex<Vec<AlertView>>);

impl AlertBoard for FakeBoard {
    fn alerts(&self) -> Vec<AlertView> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn alerts_show_name_state_since_labels_and_value_as_the_board_has_them_now() {
    let collector = Arc::new(MetricsCollector::new(MetricsConfig::default()));
    let board = Arc::new(FakeBoard::default());
    let alert = |state: &str, value: f64| AlertView {
        name: "JobsFailing".into(),
        state: state.into(),
        since: "2026-01-02T03:04:05Z".into(),
        labels: [("alertname", "JobsFailing"), ("batch_id", "b1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        value,
    };
    board.0.lock().unwrap().push(alert("pending", 2.0));
    let state = ApiState::new(collector).with_alerts(board.clone());
    let server = spawn_server("127.0.0.1:0".parse().unwrap(), state).unwrap();
    let api = Api {
        server,
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into(),
    };
    let expected = |state: &str, value: f64| {
        serde_json::json!([{
            "name": "JobsFailing",
            "state": state,
            "since": "2026-01-02T03:04:05Z",
            "labels": { "alertname": "JobsFailing", "batch_id": "b1" },
            "value": value,
        }])
    };
    assert_eq!(api.json("/api/alerts", None), (200, expected("pending", 2.0)));
    board.0.lock().unwrap()[0] = alert("firing", 4.0);
    assert_eq!(
        api.json("/api/alerts", None),
        (200, expected("firing", 4.0)),
        "read again on each request"
    );
    let (status, err) = api.json("/api/alerts?x=1", None);
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("\"x\""));
}

#[test]
fn runs_carry_counts_eta_and_change_between_requests() {
    let runs = Arc::new(FakeRuns::default());
    runs.0.lock().unwrap().push(run("r1", 4, 0, false));
    runs.0.lock().unwrap().push(run("r2", 2, 7, true));
    let (api, _) = Api::start(None, Some(runs.clone()));
    let (status, v) = api.json("/api/runs", None);
    assert_eq!(status, 200);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let live = &list[1];
    assert_eq!(live["run_id"], "r2");
    assert_eq!(live["completed"], 2);
    assert_eq!(live["finished"], 2);
    assert_eq!(live["live"], true);
    // 7 pending + 1 running at 0.2 jobs/s.
    assert_eq!(live["eta_seconds"].as_f64(), Some(40.0));
    assert_eq!(
        list[0]["eta_seconds"],
        serde_json::Value::Null,
        "r1 is not executing (not live, its batch not held): no ETA for its running job"
    );

    runs.0.lock().unwrap()[1] = run("r2", 5, 4, true);
    let (_, one) = api.json("/api/runs/r2", None);
    assert_eq!(one["completed"], 5, "read again on each request");
    let (status, err) = api.json("/api/runs/nope", None);
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("\"nope\""));
    let (status, err) = api.json("/api/runs?x=1", None);
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("\"x\""));
}

#[test]
fn a_catalog_that_fails_is_a_500_naming_the_cause() {
    let (api, _) = Api::start(None, Some(Arc::new(BrokenRuns)));
    let (status, err) = api.json("/api/runs", None);
    assert_eq!(status, 500);
    assert!(
        err["error"].as_str().unwrap().contains("runs/ is not readable"),
        "{err}"
    );
}

#[test]
fn overview_lists_series_with_tag_sets_last_values_and_sparkline() {
    let (api, c) = Api::start(None, None);
    for i in 0..70 {
        let status = if i % 3 == 0 { "failed" } else { "ok" };
        c.record_metric(
            "job_seconds",
            f64::from(i),
            &[("status", status)],
            MetricType::Histogram,
        )
        .unwrap();
    }
    c.record_metric("depth", 4.0, &[], MetricType::Gauge).unwrap();
    let (status, v) = api.json("/api/metrics/overview", None);
    assert_eq!(status, 200);
    assert!(v["now"].as_f64().unwrap() > 1.7e9);
    let series = v["series"].as_array().unwrap();
    let job = series.iter().find(|s| s["name"] == "job_seconds").unwrap();
    assert_eq!(job["type"], "histogram");
    assert_eq!(job["samples"], 70);
    assert!(!job["buckets"].as_array().unwrap().is_empty());
    let sets = job["tag_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    let failed = sets.iter().find(|t| t["tags"]["status"] == "failed").unwrap();
    assert_eq!(failed["last"]["value"].as_f64(), Some(69.0));
    let ok = sets.iter().find(|t| t["tags"]["status"] == "ok").unwrap();
    assert_eq!(ok["last"]["value"].as_f64(), Some(68.0));
    let spark: Vec<f64> = job["sparkline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(spark.len(), metrics_api::dashboard::SPARKLINE_POINTS);
    assert_eq!(spark.first(), Some(&10.0), "the newest 60, oldest first");
    assert_eq!(spark.last(), Some(&69.0));
    assert_eq!(job["last"]["value"].as_f64(), Some(69.0));
    let depth = series.iter().find(|s| s["name"] == "depth").unwrap();
    assert_eq!(depth["tag_sets"][0]["tags"], serde_json::json!({}));
    assert_eq!(api.json("/api/metrics/overview?limit=3", None).0, 400);
}

/// Every chart has a text alternative: the series view's sparklines are
/// images labelled with the values they draw, not hidden from readers.
#[test]
fn sparklines_carry_their_values_as_text() {
    let (api, _) = Api::start(None, None);
    let (_, _, app) = api.get("/dashboard/app.js", None);
    let spark = app
        .lines()
        .find(|l| l.contains("class: \"spark\""))
        .expect("the sparkline canvas");
    assert!(!spark.contains("aria-hidden"), "{spark}");
    assert!(
        spark.contains("role: \"img\"") && spark.contains("\"aria-label\": alt"),
        "{spark}"
    );
    assert!(
        app.contains("s.sparkline.map((v) => C.fmtNum(v)).join"),
        "the label lists the values"
    );
    // A value the server gives as an aggregate is shown, and named.
    assert!(app.contains("s.last.aggregate"));
}

/// A tag set with no sample kept (an aggregate-only series) has its
/// current aggregate as its value: a counter's total, a gauge's value, a
/// histogram's sum, named by `aggregate`; the series' value is their sum
/// (none for a gauge of several tag sets).
#[test]
fn overview_gives_aggregate_only_tag_sets_their_aggregate() {
    let (api, c) = Api::start(None, None);
    // Handles of series left at the default policy keep no samples.
    let in_flight = c.gauge("in_flight", &[("batch", "a")]).unwrap();
    in_flight.set(3.0);
    in_flight.set(5.0);
    for (kind, n) in [("timeout", 2), ("timeout", 1), ("spawn", 4)] {
        c.counter("errors", &[("error_type", kind)]).unwrap().increment(n);
    }
    let run_seconds = c.histogram("run_seconds", &[]).unwrap();
    for v in [1.5, 2.5] {
        run_seconds.record(v);
    }
    let (status, v) = api.json("/api/metrics/overview", None);
    assert_eq!(status, 200);
    let series = |name: &str| {
        v["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    let gauge = series("in_flight");
    assert_eq!(gauge["samples"], 0);
    assert_eq!(gauge["tag_sets"][0]["last"]["value"].as_f64(), Some(5.0), "{gauge}");
    assert_eq!(gauge["tag_sets"][0]["last"]["aggregate"], "value");
    assert_eq!(gauge["last"]["value"].as_f64(), Some(5.0));
    let errors = series("errors");
    let total = |kind: &str| {
        errors["tag_sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tags"]["error_type"] == kind)
            .unwrap()["last"]
            .clone()
    };
    assert_eq!(total("timeout")["value"].as_f64(), Some(3.0), "{errors}");
    assert_eq!(total("timeout")["aggregate"], "total");
    assert_eq!(total("spawn")["value"].as_f64(), Some(4.0));
    assert_eq!(errors["last"]["value"].as_f64(), Some(7.0), "totals add up");
    let hist = series("run_seconds");
    assert_eq!(hist["tag_sets"][0]["last"]["value"].as_f64(), Some(4.0), "{hist}");
    assert_eq!(hist["tag_sets"][0]["last"]["aggregate"], "sum");
    assert!(hist["sparkline"].as_array().unwrap().is_empty());
    // Two tag sets of a gauge: each its value, the series none.
    c.gauge("in_flight", &[("batch", "b")]).unwrap().set(1.0);
    let (_, v) = api.json("/api/metrics/overview", None);
    let gauge = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "in_flight")
        .unwrap();
    assert_eq!(gauge["tag_sets"].as_array().unwrap().len(), 2);
    assert!(gauge["last"].is_null(), "{gauge}");
    // A sample's value has no `aggregate`.
    c.record_metric("depth", 4.0, &[], MetricType::Gauge).unwrap();
    let (_, v) = api.json("/api/metrics/overview", None);
    let depth = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "depth")
        .unwrap();
    assert!(depth["tag_sets"][0]["last"].get("aggregate").is_none(), "{depth}");
}

/// `/api/metrics/series/{name}/chart`: the chart model the page paints and
/// `bykilt metrics plot` draws, over the live collector's samples.
#[test]
fn chart_route_serves_the_model_with_the_series_filters() {
    let (api, collector) = Api::start(Some("t0k"), None);
    for (status, n) in [("ok", 2), ("failed", 1), ("ok", 3)] {
        collector
            .record_metric(
                "jobs_total",
                f64::from(n),
                &[("status", status), ("host", "a")],
                MetricType::Counter,
            )
            .unwrap();
    }
    for v in [0.05, 0.2, 0.7] {
        collector
            .record_metric("job_seconds", v, &[("host", "a")], MetricType::Timer)
            .unwrap();
    }
    assert_eq!(api.get("/api/metrics/series/jobs_total/chart", None).0, 401);
    let (status, chart) = api.json("/api/metrics/series/jobs_total/chart", Some("t0k"));
    assert_eq!(status, 200, "{chart}");
    assert_eq!(chart["cumulative"], true);
    assert_eq!(chart["y_label"], "running total (count)");
    let lines = chart["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["label"], "status=ok", "labelled by the tag that differs");
    let totals: Vec<f64> = lines[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert_eq!(totals, vec![2.0, 5.0], "a counter's increments as a running total");
    assert!(chart["percentiles"].as_array().unwrap().is_empty());

    let (_, one) = api.json("/api/metrics/series/jobs_total/chart?tag=status=failed", Some("t0k"));
    assert_eq!(one["lines"].as_array().unwrap().len(), 1);
    assert_eq!(one["samples"], 1);

    let (_, timer) = api.json("/api/metrics/series/job_seconds/chart?limit=2", Some("t0k"));
    assert_eq!(timer["unit"], "s");
    assert_eq!(timer["samples"], 2, "the newest `limit` samples");
    assert_eq!(timer["percentiles"].as_array().unwrap().len(), 3);
    let binned: u64 = timer["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(binned, 2);

    assert_eq!(api.get("/api/metrics/series/nothing/chart", Some("t0k")).0, 404);
    let (status, _, body) = api.get("/api/metrics/series/jobs_total/chart?limit=x", Some("t0k"));
    assert_eq!(status, 400);
    assert!(body.contains("limit"), "{body}");
}
