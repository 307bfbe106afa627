//! `bykilt metrics plot`: SVG files that parse as XML with their title, axis
//! labels and legend as text; PNG files of the requested size; clear
//! errors for a bad name, an empty selection and an unknown extension; and
//! the same chart as the dashboard's, from the same chart model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

/// Runs a 6-row batch (row 2 fails) and returns its run id.
fn batch(s: &Sandbox, csv: &str) -> String {
    s.write(csv, &common::numbered_csv(6));
    let out = s.run(&[
        "batch",
        "run",
        csv,
        "--exec",
        "test \"$BYKILT_ROW_INDEX\" -ne 2",
        "--quiet",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["run_id"].as_str().unwrap().to_owned()
}

/// (svg width, svg height, every text node, number of drawn shapes)
fn svg(path: &std::path::Path) -> (String, String, Vec<String>, usize) {
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect();
    let shapes = doc
        .descendants()
        .filter(|n| matches!(n.tag_name().name(), "polyline" | "path" | "rect"))
        .count();
    (
        root.attribute("width").unwrap().to_owned(),
        root.attribute("height").unwrap().to_owned(),
        texts,
        shapes,
    )
}

fn has(texts: &[String], needle: &str) -> bool {
    texts.iter().any(|t| t.contains(needle))
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn line_plot_svg_has_title_axes_units_and_one_legend_entry_per_tag_set() {
    let s = Sandbox::new();
    let run = batch(&s, "a.csv");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_status",
        "--out",
        "status.svg",
        "--width",
        "900",
        "--height",
        "500",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (w, h, texts, shapes) = svg(&s.path().join("status.svg"));
    assert_eq!((w.as_str(), h.as_str()), ("900", "500"));
    assert!(has(&texts, &format!("job_status — run {run}")), "title in {texts:?}");
    assert!(has(&texts, "time (UTC)"), "x axis label in {texts:?}");
    // A counter's samples are increments: drawn as a running total, as on
    // the dashboard.
    assert!(
        has(&texts, "running total (count)"),
        "y axis label with unit in {texts:?}"
    );
    // job_status has a tag set per status reached: pending, running, completed, failed.
    for status in ["status=pending", "status=running", "status=completed", "status=failed"] {
        assert!(has(&texts, status), "legend entry {status} in {texts:?}");
    }
    assert!(shapes > 4);

    // A tag filter leaves one line.
    let out = s.run(&[
        "metrics",
        "plot",
        "job_status",
        "--tag",
        "status=failed",
        "--run",
        &run,
        "--out",
        "failed.svg",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("failed.svg"));
    assert!(has(&texts, "status=failed"));
    assert!(!has(&texts, "status=completed"), "{texts:?}");

    // Seconds are labelled as such, and --since keeps recent samples.
    let out = s.run(&[
        "metrics",
        "plot",
        "job_duration_seconds",
        "--since",
        "1d",
        "--out",
        "sub/d.svg",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("sub/d.svg"));
    assert!(has(&texts, "value (s)"), "{texts:?}");
}

#[test]
fn histogram_kind_draws_the_value_distribution() {
    let s = Sandbox::new();
    batch(&s, "a.csv");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_duration_seconds",
        "--kind",
        "histogram",
        "--out",
        "h.svg",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, shapes) = svg(&s.path().join("h.svg"));
    assert!(has(&texts, "distribution"), "{texts:?}");
    assert!(has(&texts, "value (s)") && has(&texts, "samples"), "{texts:?}");
    assert!(
        shapes >= 12,
        "a bar per bucket of job_duration_seconds and the frame: {shapes}"
    );
}

#[test]
fn png_has_the_requested_size_for_both_kinds() {
    let s = Sandbox::new();
    batch(&s, "a.csv");
    for (kind, w, h) in [("line", "640", "360"), ("histogram", "1200", "700")] {
        let file = format!("{kind}.png");
        let out = s.run(&[
            "metrics",
            "plot",
            "job_duration_seconds",
            "--kind",
            kind,
            "--out",
            &file,
            "--width",
            w,
            "--height",
            h,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let bytes = std::fs::read(s.path().join(&file)).unwrap();
        assert_eq!(png_size(&bytes), (w.parse().unwrap(), h.parse().unwrap()), "{kind}");
    }
}

#[test]
fn all_runs_draws_a_line_per_run() {
    let s = Sandbox::new();
    let a = batch(&s, "a.csv");
    let b = batch(&s, "b.csv");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_duration_seconds",
        "--all-runs",
        "--out",
        "all.svg",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("all.svg"));
    assert!(has(&texts, "job_duration_seconds — 2 runs"), "{texts:?}");
    assert!(
        has(&texts, &format!("run_id={a}")) && has(&texts, &format!("run_id={b}")),
        "{texts:?}"
    );
    let out = s.run(&[
        "metrics",
        "plot",
        "job_duration_seconds",
        "--all-runs",
        "--run",
        &a,
        "--out",
        "x.svg",
    ]);
    assert_eq!(out.status.code(), Some(2), "--run and --all-runs conflict");
}

#[test]
fn bad_name_empty_selection_and_unknown_extension_are_clear_errors() {
    let s = Sandbox::new();
    batch(&s, "a.csv");
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["nope_total", "--out", "x.svg"],
            &["no metric \"nope_total\"", "job_duration_seconds"],
        ),
        (
            &["job_status", "--tag", "status=lost", "--out", "x.svg"],
            &["no samples matching", "job_status"],
        ),
        (
            &["job_status", "--out", "x.jpg"],
            &["unknown extension \"jpg\"", "FILE.svg or FILE.png"],
        ),
        (&["job_status", "--out", "x"], &["unknown extension", "FILE.svg"]),
    ];
    for (args, needles) in cases {
        let mut all = vec!["metrics", "plot"];
        all.extend_from_slice(args);
        let out = s.run(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
        }
        assert!(!s.path().join("x.svg").exists() && !s.path().join("x.jpg").exists());
    }
    let empty = Sandbox::new();
    let out = empty.run(&["metrics", "plot", "job_status", "--all-runs", "--out", "x.svg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no run with metrics"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn lines_past_the_cap_are_counted_in_the_title() {
    let s = Sandbox::new();
    let collector = metrics_core::MetricsCollector::new(metrics_core::MetricsConfig::default());
    for q in 0..10 {
        for v in 0..3 {
            let queue = format!("q{q}");
            collector
                .record_metric(
                    "queue_depth",
                    f64::from(q * 10 + v),
                    &[("queue", queue.as_str())],
                    metrics_core::MetricType::Gauge,
                )
                .unwrap();
        }
    }
    let run = "20260101-000000-000000-abcd";
    let dir = s.root().join("runs").join(run).join("metrics");
    std::fs::create_dir_all(&dir).unwrap();
    collector.export_json_to(dir.join("metrics.json")).unwrap();
    let out = s.run(&["metrics", "plot", "queue_depth", "--run", run, "--out", "q.svg"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("q.svg"));
    assert!(has(&texts, "(+2 tag sets not drawn)"), "{texts:?}");
    let legend: Vec<_> = texts.iter().filter(|t| t.starts_with("queue=")).collect();
    assert_eq!(legend.len(), 8, "{legend:?}");
    assert!(
        has(&texts, "value") && !has(&texts, "value ("),
        "a gauge without a unit suffix: {texts:?}"
    );
}

/// The file `metrics plot` draws and the chart the dashboard paints come
/// from one chart model: the served `/api/metrics/series/{name}/chart` has
/// exactly the lines (labels), axis label and distribution bars that the
/// SVG has as text.
#[test]
fn the_plot_and_the_dashboard_draw_the_same_chart_model() {
    let s = Sandbox::new();
    let run = batch(&s, "a.csv");
    let port = test_support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server = test_support::Killed(
        s.cmd(&["serve", "--run", &run, "--listen", &listen])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let chart = |name: &str| -> serde_json::Value {
        let url = format!("http://{listen}/api/metrics/series/{name}/chart?limit=100000");
        let body = test_support::poll(std::time::Duration::from_secs(30), || test_support::http_get(&url))
            .expect("the server answers the chart route");
        serde_json::from_str(&body).unwrap()
    };

    let model = chart("job_status");
    let out = s.run(&["metrics", "plot", "job_status", "--run", &run, "--out", "s.svg"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("s.svg"));
    let labels: Vec<&str> = model["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 4, "{model}");
    let legend: Vec<&str> = texts
        .iter()
        .filter(|t| t.starts_with("status="))
        .map(String::as_str)
        .collect();
    assert_eq!(legend, labels, "the SVG's legend is the model's lines, in order");
    assert!(has(&texts, model["y_label"].as_str().unwrap()), "{texts:?}");
    // The model's running totals end at the counts the summary table shows.
    let last = |label: &str| {
        let line = model["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["label"] == label)
            .unwrap();
        line["points"].as_array().unwrap().last().unwrap()[1].as_f64().unwrap()
    };
    assert_eq!(last("status=completed"), 5.0);
    assert_eq!(last("status=failed"), 1.0);

    let model = chart("job_duration_seconds");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_duration_seconds",
        "--run",
        &run,
        "--kind",
        "histogram",
        "--out",
        "h.svg",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("h.svg"));
    let bars = model["distribution"].as_array().unwrap();
    assert!(bars.len() > 2, "{model}");
    assert_eq!(bars.iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), 6);
    for b in bars {
        let label = b["label"].as_str().unwrap();
        assert!(texts.iter().any(|t| t == label), "bar {label:?} in {texts:?}");
    }
    assert!(has(&texts, model["distribution_label"].as_str().unwrap()));
    assert_eq!(model["percentiles"].as_array().unwrap().len(), 3);
}

/// `args` plus `--json`, which must succeed; its JSON output.
fn json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = s.cmd(&all).env_remove("BYKILT_METRICS_DB").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{all:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A run imported into the database (`metrics import`, with no directory
/// under the artifacts root) and a run whose metrics.json is gone are
/// plotted from the database, from the samples `metrics summary` counts.
#[test]
fn runs_only_the_database_has_are_plotted_from_it() {
    let old = Sandbox::new();
    let old_run = {
        old.write("a.csv", &common::numbered_csv(4));
        let out = old.run(&[
            "batch", "run", "a.csv", "--exec", "true", "--no-db", "--quiet", "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["run_id"].as_str().unwrap().to_owned()
    };
    let s = Sandbox::new();
    let file = old
        .root()
        .join("runs")
        .join(&old_run)
        .join("metrics")
        .join("metrics.json");
    std::fs::create_dir_all(s.root()).unwrap();
    json(
        &s,
        &["metrics", "import", file.to_str().unwrap(), "--run", "imported-run"],
    );
    assert!(
        !s.root().join("runs").exists(),
        "the imported run has no directory here"
    );
    let plotted = json(
        &s,
        &[
            "metrics",
            "plot",
            "job_duration_seconds",
            "--run",
            "imported-run",
            "--out",
            "i.svg",
        ],
    );
    assert_eq!(plotted["samples"], 4, "{plotted}");
    let (_, _, texts, _) = svg(&s.path().join("i.svg"));
    assert!(has(&texts, "job_duration_seconds — run imported-run"), "{texts:?}");
    // Without --run: the database's latest run, as no run directory has metrics.
    let latest = json(&s, &["metrics", "plot", "job_status", "--out", "l.svg"]);
    assert!(latest["samples"].as_u64().unwrap() > 4, "{latest}");

    let run = batch(&s, "b.csv");
    std::fs::remove_file(s.root().join("runs").join(&run).join("metrics").join("metrics.json")).unwrap();
    let plotted = json(
        &s,
        &["metrics", "plot", "job_status", "--run", &run, "--out", "gone.svg"],
    );
    let summary = json(&s, &["metrics", "summary", "job_status", "--run", &run]);
    assert_eq!(plotted["samples"], summary["summary"]["count"], "{plotted} {summary}");
    let (_, _, texts, _) = svg(&s.path().join("gone.svg"));
    assert!(has(&texts, &format!("job_status — run {run}")), "{texts:?}");
    assert!(has(&texts, "status=failed"), "{texts:?}");
    // --db names the database; one that does not exist is named.
    let out = s.run(&["metrics", "plot", "job_status", "--db", "nowhere.db", "--out", "n.svg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nowhere.db"), "{}", text(&out.stderr));
}

/// `--all-runs` reads every run of the database, as `metrics summary
/// --all-runs` and the dashboard's chart route with `run=all` do: a run
/// recorded with `--no-db` (a metrics.json only) is not drawn, an imported
/// one is.
#[test]
fn all_runs_plots_the_samples_summary_counts_across_the_database() {
    let s = Sandbox::new();
    let a = batch(&s, "a.csv");
    let b = batch(&s, "b.csv");
    s.write("c.csv", &common::numbered_csv(3));
    let out = s.run(&["batch", "run", "c.csv", "--exec", "true", "--no-db", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let other = Sandbox::new();
    let imported = batch(&other, "d.csv");
    let file = other
        .root()
        .join("runs")
        .join(&imported)
        .join("metrics")
        .join("metrics.json");
    json(
        &s,
        &["metrics", "import", file.to_str().unwrap(), "--run", "imported-run"],
    );

    for name in ["job_duration_seconds", "job_status"] {
        let plotted = json(&s, &["metrics", "plot", name, "--all-runs", "--out", "all.svg"]);
        let summary = json(&s, &["metrics", "summary", name, "--all-runs"]);
        assert_eq!(
            plotted["samples"], summary["summary"]["count"],
            "{name}: {plotted} {summary}"
        );
        let (_, _, texts, _) = svg(&s.path().join("all.svg"));
        assert!(has(&texts, &format!("{name} — 3 runs")), "{texts:?}");
    }
    let (_, _, texts, _) = svg(&s.path().join("all.svg"));
    let port = test_support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server = test_support::Killed(
        s.cmd(&["serve", "--listen", &listen])
            .env_remove("BYKILT_METRICS_DB")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{listen}/api/metrics/series/job_status/chart?run=all&limit=100000");
    let body = test_support::poll(std::time::Duration::from_secs(30), || test_support::http_get(&url))
        .expect("the server answers the chart route");
    let model: serde_json::Value = serde_json::from_str(&body).unwrap();
    let plotted = json(&s, &["metrics", "plot", "job_status", "--all-runs", "--out", "all.svg"]);
    assert_eq!(model["samples"], plotted["samples"], "{model}");
    assert_eq!(
        model["hidden_tag_sets"],
        4 * 3 - 8,
        "a tag set per status and run past the cap"
    );
    assert!(has(&texts, "(+4 tag sets not drawn)"), "{texts:?}");
    for run in [&a, &b] {
        assert!(texts.iter().any(|t| t.contains(run.as_str())), "{run} in {texts:?}");
    }
}

/// An empty selection names the filters that emptied it, and only those.
#[test]
fn an_empty_selection_names_only_the_filters_given() {
    let s = Sandbox::new();
    batch(&s, "a.csv");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_status",
        "--tag",
        "status=lost",
        "--out",
        "x.svg",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("matching --tag status=lost"), "{err}");
    assert!(!err.contains("--since"), "{err}");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_status",
        "--tag",
        "status=lost",
        "--since",
        "2h",
        "--out",
        "x.svg",
    ]);
    let err = text(&out.stderr);
    assert!(err.contains("matching --tag status=lost --since 2h"), "{err}");
    assert!(!s.path().join("x.svg").exists());
}

#[test]
fn the_title_names_the_filters_given() {
    let s = Sandbox::new();
    let run = batch(&s, "a.csv");
    let out = s.run(&[
        "metrics",
        "plot",
        "job_status",
        "--tag",
        "status=completed",
        "--since",
        "2h",
        "--out",
        "nested/dir/completed.svg",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, _, texts, _) = svg(&s.path().join("nested/dir/completed.svg"));
    assert!(
        has(&texts, &format!("job_status — run {run} (status=completed, last 2h)")),
        "title in {texts:?}"
    );
}
