//! The metrics database as a new user meets it: run ids typed as for every
//! other command, a run recorded without the database explained, every
//! series the store knows listed, imports that neither double a run nor
//! take the import's time for the run's, RFC 3339 times in JSON, and the
//! two servers taking the same tag syntax and answering across runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::time::Duration;

use common::{Sandbox, text};
use test_support::{Killed, free_port, http_get, poll};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn run(s: &Sandbox, args: &[&str]) -> Output {
    s.cmd(args).env_remove("BYKILT_METRICS_DB").output().unwrap()
}

fn ok(s: &Sandbox, args: &[&str]) -> String {
    let out = run(s, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(s, &all)).unwrap()
}

/// Exit 2 and its stderr.
fn refused(s: &Sandbox, args: &[&str]) -> String {
    let out = run(s, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stdout));
    text(&out.stderr)
}

fn rfc3339(v: &serde_json::Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap_or_else(|| panic!("{v} is not a string")), &Rfc3339).unwrap()
}

/// Runs a batch of `n` jobs (`extra` flags) and returns its run id.
fn batch(s: &Sandbox, n: usize, extra: &[&str]) -> String {
    let mut args = vec!["batch", "run", "in.csv", "--exec", "true", "--quiet"];
    args.extend_from_slice(extra);
    s.write("in.csv", &common::numbered_csv(n));
    let v = json(s, &args);
    v["run_id"].as_str().unwrap().to_owned()
}

/// The shortest prefix of `a` that `b` does not start with.
fn unique_prefix(a: &str, b: &str) -> String {
    let same = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    a[..=same].to_owned()
}

fn samples(v: &serde_json::Value) -> usize {
    v.as_array().unwrap().len()
}

#[test]
fn store_commands_take_every_run_id_form_and_explain_a_run_kept_out_of_the_database() {
    let s = Sandbox::new();
    let first = batch(&s, 5, &[]);
    let second = batch(&s, 2, &[]);
    let outside = batch(&s, 3, &["--no-db"]);
    let prefix = unique_prefix(&first, &second);
    assert!(prefix.len() < first.len());

    for form in [
        first.clone(),
        format!("batch-{first}"),
        prefix.clone(),
        format!("batch-{prefix}"),
    ] {
        let rows = json(&s, &["metrics", "query", "job_duration_seconds", "--run", &form]);
        assert_eq!(samples(&rows), 5, "--run {form}");
        assert!(rows.as_array().unwrap().iter().all(|r| r["run"] == first.as_str()));
        let summary = json(&s, &["metrics", "summary", "job_duration_seconds", "--run", &form]);
        assert_eq!(summary["summary"]["count"], 5, "summary --run {form}");
        assert_eq!(summary["run_id"], first.as_str());
    }
    // A prefix every run has is ambiguous, and says which runs it matches.
    let err = refused(&s, &["metrics", "query", "job_status", "--run", "2"]);
    assert!(
        err.contains("ambiguous") && err.contains(&first) && err.contains(&second),
        "{err}"
    );
    // An unknown id lists the closest stored runs.
    let err = refused(&s, &["metrics", "query", "job_status", "--run", "zz-nothing"]);
    assert!(
        err.contains("\"zz-nothing\"") && err.contains("closest") && err.contains(&first),
        "{err}"
    );

    // The --no-db run exists but is not stored: said so, with the import.
    for args in [
        vec!["metrics", "query", "job_status", "--run", outside.as_str()],
        vec!["metrics", "query", "job_status", "--run", &outside[..outside.len() - 2]],
    ] {
        let err = refused(&s, &args);
        assert!(
            err.contains(&outside) && err.contains("not in the database") && err.contains("--no-db"),
            "{err}"
        );
        assert!(
            err.contains("bykilt metrics import") && err.contains("metrics.json"),
            "{err}"
        );
    }
    // Following the advice stores it.
    let file = s
        .root()
        .join("runs")
        .join(&outside)
        .join("metrics")
        .join("metrics.json");
    ok(&s, &["metrics", "import", file.to_str().unwrap()]);
    let rows = json(
        &s,
        &[
            "metrics",
            "query",
            "job_duration_seconds",
            "--run",
            &format!("batch-{outside}"),
        ],
    );
    assert_eq!(samples(&rows), 3);
}

#[test]
fn runs_lists_aggregate_only_series_and_rfc3339_times() {
    let s = Sandbox::new();
    let id = batch(&s, 3, &[]);
    let runs = json(&s, &["metrics", "runs"]);
    let r = &runs.as_array().unwrap()[0];
    assert_eq!(r["name"], id.as_str());
    let started = rfc3339(&r["started_at"]);
    let ended = rfc3339(&r["ended_at"]);
    assert!(started <= ended && ended <= OffsetDateTime::now_utc());
    let series: Vec<(String, u64)> = r["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap().to_owned(), x["samples"].as_u64().unwrap()))
        .collect();
    let count = |name: &str| series.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
    assert_eq!(count("job_duration_seconds"), Some(3));
    // Kept as aggregates only: listed, with no samples.
    for name in ["job_retries", "jobs_in_flight", "metrics_store_written_samples_total"] {
        assert_eq!(count(name), Some(0), "{name} in {series:?}");
    }
    let table = ok(&s, &["metrics", "runs"]);
    assert!(table.contains("jobs_in_flight (0)"), "{table}");
}

#[test]
fn importing_a_run_twice_is_refused_and_the_run_keeps_its_own_times() {
    let s = Sandbox::new();
    let id = batch(&s, 3, &["--no-db"]);
    let file = s.root().join("runs").join(&id).join("metrics").join("metrics.json");
    let exported: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let times: Vec<OffsetDateTime> = exported
        .as_object()
        .unwrap()
        .values()
        .flat_map(|series| {
            series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| rfc3339(&v["timestamp"]))
        })
        .collect();
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    std::thread::sleep(Duration::from_millis(1100));
    let import_started = OffsetDateTime::now_utc();

    let db = s.path().join("new.db");
    let db = db.to_str().unwrap();
    let args = ["metrics", "import", file.to_str().unwrap(), "--db", db];
    ok(&s, &args);
    let summary = |s: &Sandbox| {
        json(
            s,
            &["metrics", "summary", "job_duration_seconds", "--run", &id, "--db", db],
        )
    };
    assert_eq!(summary(&s)["summary"]["count"], 3);
    let err = refused(&s, &args);
    assert!(
        err.contains(&id) && err.contains("new.db") && err.contains("already"),
        "{err}"
    );
    assert_eq!(summary(&s)["summary"]["count"], 3, "nothing doubled");
    // Under another name it is a second run.
    ok(
        &s,
        &["metrics", "import", file.to_str().unwrap(), "--db", db, "--run", "copy"],
    );
    let runs = json(&s, &["metrics", "runs", "--db", db]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let r = runs.iter().find(|r| r["name"] == id.as_str()).unwrap();
    let (started, ended) = (rfc3339(&r["started_at"]), rfc3339(&r["ended_at"]));
    assert!(
        started <= first,
        "start {started} is the batch's, before its first sample {first}"
    );
    assert!(first - started < time::Duration::seconds(60), "{started} vs {first}");
    assert_eq!(ended, last, "the end is the last sample's time");
    assert!(ended < import_started);
}

fn get_status(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = agent.get(url).call().unwrap();
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = get_status(url);
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn serve_db_resolves_runs_takes_both_tag_forms_answers_across_runs_and_lists_every_series() {
    let s = Sandbox::new();
    let first = batch(&s, 3, &[]);
    let second = batch(&s, 2, &[]);
    let db = s.root().join("metrics.db");
    let listen = format!("127.0.0.1:{}", free_port());
    let _server = Killed(
        s.cmd(&["serve", "--db", db.to_str().unwrap(), "--listen", &listen])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{listen}");
    poll(Duration::from_secs(30), || http_get(&format!("{base}/healthz"))).expect("serve --db is up");
    let series = |q: &str| get_json(&format!("{base}/api/metrics/series/job_duration_seconds?{q}"));

    // Without run: every run.
    let all = series("since_seconds=3600");
    assert_eq!(all["returned"], 5, "{all}");
    // run= narrows, in every id form.
    let prefix = unique_prefix(&first, &second);
    for form in [
        first.clone(),
        format!("batch-{first}"),
        prefix.clone(),
        format!("batch-{prefix}"),
    ] {
        assert_eq!(series(&format!("run={form}"))["returned"], 3, "run={form}");
    }
    let (status, body) = get_status(&format!(
        "{base}/api/metrics/series/job_duration_seconds?run=zz-nothing"
    ));
    assert_eq!(status, 404);
    assert!(body.contains("zz-nothing") && body.contains("closest"), "{body}");

    // Tags: key=value and key:value alike.
    for tag in [format!("batch_id=batch-{first}"), format!("batch_id:batch-{first}")] {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("tag", &tag)
            .finish();
        assert_eq!(series(&q)["returned"], 3, "tag={tag}");
        assert_eq!(
            get_json(&format!("{base}/api/metrics/series/job_duration_seconds/summary?{q}"))["summary"]["count"],
            3
        );
    }
    let (status, body) = get_status(&format!("{base}/api/metrics/series/job_duration_seconds?tag=nokey"));
    assert_eq!(status, 400);
    assert!(body.contains("nokey"), "{body}");

    // The overview lists aggregate-only series with 0 samples.
    let ov = get_json(&format!("{base}/api/metrics/overview"));
    let listed: Vec<(String, u64)> = ov["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap().to_owned(), x["samples"].as_u64().unwrap()))
        .collect();
    for name in ["job_retries", "jobs_in_flight", "metrics_store_dropped_samples_total"] {
        assert!(listed.contains(&(name.to_owned(), 0)), "{name} in {listed:?}");
    }
    assert!(listed.contains(&("job_duration_seconds".to_owned(), 5)), "{listed:?}");

    // Times in /api/runs are RFC 3339.
    let runs = get_json(&format!("{base}/api/runs"));
    for r in runs.as_array().unwrap() {
        assert!(rfc3339(&r["started_at"]) <= rfc3339(&r["ended_at"]), "{r}");
        rfc3339(&r["first_job_started_at"]);
        rfc3339(&r["last_completed_at"]);
    }
    let one = get_json(&format!("{base}/api/runs/batch-{prefix}"));
    assert_eq!(one["run_id"], first.as_str());
}

#[test]
fn plain_serve_takes_both_tag_forms_and_gives_rfc3339_run_times() {
    let s = Sandbox::new();
    let id = batch(&s, 3, &[]);
    let listen = format!("127.0.0.1:{}", free_port());
    let _server = Killed(
        s.cmd(&["serve", "--listen", &listen, "--run", &id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{listen}");
    poll(Duration::from_secs(30), || http_get(&format!("{base}/healthz"))).expect("serve is up");
    for (tag, want) in [("status=completed", 3), ("status:completed", 3), ("status:pending", 1)] {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("tag", tag)
            .finish();
        let v = get_json(&format!("{base}/api/metrics/series/job_status?{q}"));
        let values = v["values"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(values.len(), want, "tag={tag}: {v}");
    }
    let (status, body) = get_status(&format!("{base}/api/metrics/series/job_status?tag=nokey"));
    assert_eq!(status, 400);
    assert!(body.contains("nokey"), "{body}");
    let runs = get_json(&format!("{base}/api/runs"));
    let r = &runs.as_array().unwrap()[0];
    let created = rfc3339(&r["created_at"]);
    assert!(created <= rfc3339(&r["started_at"]) && rfc3339(&r["started_at"]) <= rfc3339(&r["last_completed_at"]));
}

#[test]
fn metrics_query_refuses_limit_zero_and_suggests_the_metric_meant() {
    let s = Sandbox::new();
    batch(&s, 2, &[]);
    let err = refused(&s, &["metrics", "query", "job_duration_seconds", "--limit", "0"]);
    assert!(err.contains("--limit") && err.contains('0'), "{err}");
    assert_eq!(
        samples(&json(&s, &["metrics", "query", "job_duration_seconds", "--limit", "1"])),
        1
    );
    let err = refused(&s, &["metrics", "query", "job_duration_secs"]);
    assert!(err.contains("no metric \"job_duration_secs\""), "{err}");
    assert!(err.contains("did you mean: job_duration_seconds"), "{err}");
}

#[test]
fn summary_with_a_db_lacking_the_run_reads_its_metrics_json_and_says_so() {
    let s = Sandbox::new();
    batch(&s, 2, &[]);
    let bare = batch(&s, 3, &["--no-db"]);
    let db = s.root().join("metrics.db");
    let out = run(
        &s,
        &[
            "metrics",
            "summary",
            "job_duration_seconds",
            "--run",
            &bare,
            "--db",
            db.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["count"], 3, "{v}");
    let note = text(&out.stderr);
    assert!(
        note.contains("metrics.json") && note.contains("metrics.db") && note.contains(&bare),
        "{note}"
    );
    // A named database that does not exist stays an error naming it.
    let missing = s.path().join("none.db");
    let err = refused(
        &s,
        &[
            "metrics",
            "summary",
            "job_duration_seconds",
            "--run",
            &bare,
            "--db",
            missing.to_str().unwrap(),
        ],
    );
    assert!(err.contains("none.db"), "{err}");
}

/// `bykilt metrics import FILE` into the default database of artifacts root `root`.
fn import_under(root: &std::path::Path, file: &std::path::Path) -> Output {
    std::process::Command::new(common::BIN)
        .args(["metrics", "import"])
        .arg(file)
        .arg("--artifacts-dir")
        .arg(root)
        .env_remove("BYKILT_METRICS_DB")
        .env_remove("BYKILT_ARTIFACTS_DIR")
        .output()
        .unwrap()
}

#[test]
fn import_into_the_default_database_creates_the_artifacts_directory() {
    let s = Sandbox::new();
    let run_id = batch(&s, 2, &["--no-db"]);
    let file = s.path().join("old.json");
    std::fs::copy(
        s.root().join("runs").join(&run_id).join("metrics").join("metrics.json"),
        &file,
    )
    .unwrap();
    let fresh = s.path().join("fresh");
    let out = import_under(&fresh, &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fresh.join("metrics.db").exists());
    // Only that one level: a missing parent is an error naming the directory.
    let deep = s.path().join("a").join("b");
    let out = import_under(&deep, &file);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains(deep.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
    let err = refused(
        &s,
        &[
            "metrics",
            "import",
            file.to_str().unwrap(),
            "--db",
            s.path().join("x/y.db").to_str().unwrap(),
        ],
    );
    assert!(err.contains("x/y.db") && err.contains("does not exist"), "{err}");
}
