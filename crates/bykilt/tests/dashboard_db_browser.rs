//! The dashboard of `bykilt serve --db` in a real browser: headless
//! Chromium (through `chromium-driver`) loads `/` from a server over the
//! metrics database while another process — `bykilt batch run`, no
//! `--serve` — records a run into the same database, with a finished run
//! already stored. The page lists both runs, follows the live one (counts
//! and chart samples grow without a reload, as the writer commits), and
//! asks the database routes for the run or the time range picked.
//! Screenshots go to `target/screenshots/db-*.png`.
//!
//! Without chromium the test fails when `CI=true` and is skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use common::{Sandbox, text};
use serde_json::{Value, json};
use test_support::{Killed, free_port, http_get, poll};
use webdriver::{Browser, have_browser};

const TOKEN: &str = "db-dashboard-token";

fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("screenshots"))
        .unwrap()
}

/// Non-transparent pixels of the canvas `selector`.
fn painted(b: &Browser, selector: &str) -> u64 {
    b.js(
        "const c = document.querySelector(arguments[0]); if (!c || !c.width) { return 0; }
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } } return n;",
        &[json!(selector)],
    )
    .as_u64()
    .unwrap_or(0)
}

/// The number in the cell `class` of run `run_id`'s row (-1 without one).
fn count(b: &Browser, run_id: &str, class: &str) -> i64 {
    b.js(
        "const e = document.querySelector(`tr[data-run-id=\"${arguments[0]}\"] .${arguments[1]}`);
         return e ? Number(e.textContent) : -1;",
        &[json!(run_id), json!(class)],
    )
    .as_i64()
    .unwrap_or(-1)
}

/// The "samples" figure above the series chart.
fn samples_shown(b: &Browser) -> u64 {
    b.js(
        "const e = document.querySelector('#series-stats b'); return e ? Number(e.textContent) : 0;",
        &[],
    )
    .as_u64()
    .unwrap_or(0)
}

/// Records every request the page makes from now on: [url, Authorization].
fn record_requests(b: &Browser) {
    b.js(
        "window.__requests = []; const f = window.fetch;
         window.fetch = (url, opts) => {
           window.__requests.push([String(url), (opts && opts.headers && opts.headers.Authorization) || '']);
           return f(url, opts);
         };",
        &[],
    );
}

/// The newest request to the chart route of `name` made after `__requests`
/// was last emptied.
fn chart_request(b: &Browser, name: &str) -> String {
    b.wait_for(
        "the chart request",
        &format!(
            "const r = window.__requests.filter(r => r[0].startsWith('/api/metrics/series/{name}/chart?'));
             return r.length ? r[r.length - 1][0] : null;"
        ),
    )
    .as_str()
    .unwrap()
    .to_owned()
}

#[test]
fn serve_db_dashboard_follows_a_run_recorded_by_another_process_in_chromium() {
    if !have_browser() {
        return;
    }
    let s = Sandbox::new();
    // A finished run, stored in <artifacts>/metrics.db.
    s.write("done.csv", &common::numbered_csv(4));
    let done = s.run(&[
        "batch",
        "run",
        "done.csv",
        "--exec",
        "test \"$BYKILT_ROW_INDEX\" -ne 1",
        "--quiet",
        "--json",
    ]);
    assert_eq!(done.status.code(), Some(1), "{}", text(&done.stderr));
    let done: Value = serde_json::from_slice(&done.stdout).unwrap();
    let done_run = done["run_id"].as_str().unwrap().to_owned();

    // Another process records a run into the same database: 1000 jobs of
    // 0.25 s on 2 workers take ~125 s, so the run is still being recorded
    // when the test (which ends it) looks for growth on a slow machine;
    // every fifth fails.
    s.write("live.csv", &common::numbered_csv(1000));
    let _batch = Killed(s.spawn(&[
        "batch",
        "run",
        "live.csv",
        "--exec",
        "sleep 0.25; test $((BYKILT_ROW_INDEX % 5)) -ne 4",
        "-j",
        "2",
        "--quiet",
    ]));
    let db = s.root().join("metrics.db");
    let listen = format!("127.0.0.1:{}", free_port());
    let _server = Killed(
        s.cmd(&[
            "serve",
            "--db",
            db.to_str().unwrap(),
            "--listen",
            &listen,
            "--token",
            TOKEN,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    let base = format!("http://{listen}");
    poll(Duration::from_secs(20), || http_get(&format!("{base}/healthz"))).expect("serve --db is up");
    assert!(
        http_get(&format!("{base}/api/runs")).is_none(),
        "the API wants the token"
    );

    let b = Browser::start();
    b.viewport(1280, 800);
    b.goto(&format!("{base}/"));
    b.wait_for(
        "the token prompt",
        "return document.querySelector('#status.error')?.textContent.includes('token');",
    );
    b.js(
        "document.querySelector('#token-input').value = arguments[0];
         document.querySelector('#token-form').requestSubmit();",
        &[json!(TOKEN)],
    );
    // The run being recorded is the live one; the finished one is beside it.
    let live_run = b
        .wait_for(
            "the live run's row",
            "return document.querySelector('tr[data-run-id] .badge.warn')?.closest('tr').dataset.runId;",
        )
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(live_run, done_run);
    assert_eq!(count(&b, &done_run, "count-completed"), 3);
    assert_eq!(count(&b, &done_run, "count-failed"), 1);
    b.js("window.__noReload = true;", &[]);
    let first = count(&b, &live_run, "count-completed") + count(&b, &live_run, "count-failed");
    let grown = poll(Duration::from_secs(15), || {
        let now = count(&b, &live_run, "count-completed") + count(&b, &live_run, "count-failed");
        (now > first).then_some(now)
    });
    assert!(grown.is_some(), "the live run's finished count stayed at {first}");
    let shots = screenshots_dir();
    b.full_page_screenshot(1280, &shots.join("db-runs-1280.png"));
    b.full_page_screenshot(390, &shots.join("db-runs-390.png"));
    b.viewport(1280, 800);

    // The series view lists what the database holds, with sparklines.
    b.js("location.hash = '#/series';", &[]);
    b.wait_for(
        "the series table",
        "return document.querySelector('tr[data-series=\"job_duration_seconds\"] canvas.spark');",
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(painted(&b, "tr[data-series=\"job_duration_seconds\"] canvas.spark") > 0);

    // The series page of the live run: its samples grow as the writer
    // commits, without a reload.
    record_requests(&b);
    b.js("location.hash = '#/series/job_duration_seconds';", &[]);
    b.wait_for(
        "the chart",
        "return document.querySelector('#series-chart') && document.querySelector('#series-stats b');",
    );
    let url = chart_request(&b, "job_duration_seconds");
    assert!(
        url.contains(&format!("run={live_run}")),
        "the run range asks for the served run: {url}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(painted(&b, "#series-chart") > 0, "the chart is drawn");
    assert!(painted(&b, "#bucket-chart") > 0, "the bucket chart is drawn");
    let before = samples_shown(&b);
    let more = poll(Duration::from_secs(15), || {
        let now = samples_shown(&b);
        (now > before).then_some(now)
    });
    assert!(
        more.is_some(),
        "the chart's samples stayed at {before} while the run was recorded"
    );
    assert_eq!(
        b.js("return window.__noReload === true;", &[]),
        json!(true),
        "followed without a reload"
    );
    b.full_page_screenshot(1280, &shots.join("db-series-page-1280.png"));
    b.full_page_screenshot(390, &shots.join("db-series-page-390.png"));
    b.viewport(1280, 800);
    std::thread::sleep(Duration::from_millis(800));

    // The tag filter goes to the database route as key:value, and the chart
    // keeps only that tag set.
    b.js("location.hash = '#/series/job_status';", &[]);
    b.wait_for(
        "several lines",
        "return document.querySelector('#tag-filter-status') && document.querySelectorAll('#series-legend span').length > 1;",
    );
    b.js("window.__requests = [];", &[]);
    b.js(
        "const s = document.querySelector('#tag-filter-status'); s.value = 'failed'; s.dispatchEvent(new Event('change'));",
        &[],
    );
    let legend = b.wait_for(
        "the filtered chart",
        "const l = [...document.querySelectorAll('#series-legend span')].map(s => s.textContent);
         return l.length === 1 && l[0].includes('status=failed') ? l : null;",
    );
    assert!(!legend.as_array().unwrap().is_empty());
    let url = chart_request(&b, "job_status");
    assert!(url.contains("tag=status%3Afailed"), "{url}");
    let (_, auth) = {
        let r = b.js("return window.__requests[window.__requests.length - 1];", &[]);
        (r[0].clone(), r[1].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(auth, format!("Bearer {TOKEN}"));
    assert!(!url.contains(TOKEN));
    // A time range spans every stored run.
    b.js(
        "window.__requests = []; document.querySelector('button[data-range=\"7d\"]').click();",
        &[],
    );
    let url = chart_request(&b, "job_status");
    assert!(url.contains("run=all") && url.contains("since_seconds=604800"), "{url}");

    let errors: Vec<String> = b
        .console()
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    for f in ["db-runs", "db-series-page"] {
        for w in [1280, 390] {
            let p = shots.join(format!("{f}-{w}.png"));
            assert!(std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000), "{}", p.display());
        }
    }
}
