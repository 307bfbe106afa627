//! The dashboard in a real browser: headless Chromium (Debian's `chromium`,
//! driven through `chromium-driver`) loads `/` from `bykilt batch run
//! --serve` while a batch runs, with a finished run beside it under the
//! same artifacts root. Full-page screenshots of each view at 1280 and 390
//! px go to `target/screenshots/`. The batch runs with `--alerts`: the runs
//! view lists its firing alert.
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

const TOKEN: &str = "s3cret-dashboard-token";

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

fn count(b: &Browser, run_id: &str, class: &str) -> u64 {
    b.js(
        "const e = document.querySelector(`tr[data-run-id=\"${arguments[0]}\"] .${arguments[1]}`);
         return e ? Number(e.textContent) : -1;",
        &[json!(run_id), json!(class)],
    )
    .as_i64()
    .and_then(|n| u64::try_from(n).ok())
    .expect("the run's row has the count")
}

fn severe(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The series page at 390 px in a browser whose time zone is not UTC: no
/// tag filter runs past the right edge (even with a long tag value), every time-axis tick label is
/// inside the chart, and the ticks read UTC like the tables and tooltips.
fn phone_width_series_page(b: &Browser) {
    b.cdp("Emulation.setTimezoneOverride", json!({ "timezoneId": "Asia/Kolkata" }));
    b.viewport(390, 800);
    let got = b.wait_for(
        "the series chart redrawn at 390 px",
        "const c = document.querySelector('#series-chart');
         if (!c || !c.dataset.xTicks || Number(c.dataset.xTicksWidth) !== c.clientWidth || c.clientWidth > 390) { return null; }
         const page = document.documentElement.clientWidth;
         // A tag value as long as a long batch or run id makes its select that wide.
         for (const s of document.querySelectorAll('.toolbar select')) { s.append(new Option(s.dataset.tagKey + '=' + 'x'.repeat(70))); }
         const selects = [...document.querySelectorAll('.toolbar select')].map(s => ({ id: s.id, right: s.getBoundingClientRect().right }));
         const ticks = JSON.parse(c.dataset.xTicks).map(t => ({ ...t, utc: new Date(t.t * 1000).toISOString().slice(11, 16) }));
         return { page, width: c.clientWidth, selects, ticks, offset: new Date(0).getTimezoneOffset() };",
    );
    assert_eq!(got["offset"], -330, "the browser runs in Asia/Kolkata: {got}");
    let page = got["page"].as_f64().unwrap();
    let selects = got["selects"].as_array().unwrap();
    assert!(selects.iter().any(|s| s["id"] == "tag-filter-batch_id"), "{got}");
    for s in selects {
        assert!(s["right"].as_f64().unwrap() <= page + 0.5, "{s} runs past {page} px");
    }
    let width = got["width"].as_f64().unwrap();
    let ticks = got["ticks"].as_array().unwrap();
    assert!(!ticks.is_empty(), "{got}");
    for t in ticks {
        assert!(
            t["left"].as_f64().unwrap() >= 0.0 && t["right"].as_f64().unwrap() <= width,
            "{t} outside 0..{width}"
        );
        assert!(
            t["text"].as_str().unwrap().contains(t["utc"].as_str().unwrap()),
            "tick {t} is not UTC"
        );
    }
}

#[test]
fn dashboard_shows_runs_series_and_live_progress_in_chromium() {
    if !have_browser() {
        return;
    }
    let s = Sandbox::new();
    // A finished run with a failure.
    s.write("done.csv", &common::numbered_csv(6));
    let done = s.run(&[
        "batch",
        "run",
        "done.csv",
        "--exec",
        "test \"$BYKILT_ROW_INDEX\" -ne 2",
        "--quiet",
        "--json",
    ]);
    assert_eq!(done.status.code(), Some(1), "{}", text(&done.stderr));
    let done: Value = serde_json::from_slice(&done.stdout).unwrap();
    let done_run = done["run_id"].as_str().unwrap().to_owned();

    // A run in progress: 1200 jobs of 0.25 s on 2 workers take ~150 s, so
    // the run (and its server) outlives the test on a slow machine, which
    // ends it; every fifth fails, so job_status has several tag sets.
    s.write("live.csv", &common::numbered_csv(1200));
    // An alert that fires once three jobs failed: the runs view lists it.
    s.write(
        "alerts.toml",
        b"eval_interval = \"200ms\"\n[[rule]]\nname = \"JobsFailing\"\nexpr = 'job_errors_total >= 3 by (batch_id)'\nlabels = { severity = \"page\" }\n",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _live = Killed(s.spawn(&[
        "batch",
        "run",
        "live.csv",
        "--exec",
        "sleep 0.25; test $((BYKILT_ROW_INDEX % 5)) -ne 4",
        "-j",
        "2",
        "--quiet",
        "--serve",
        &listen,
        "--token",
        TOKEN,
        "--alerts",
        "alerts.toml",
    ]));
    let base = format!("http://{listen}");
    poll(Duration::from_secs(20), || http_get(&format!("{base}/healthz"))).expect("the live server is up");
    assert!(
        http_get(&format!("{base}/api/runs")).is_none(),
        "the API wants the token"
    );

    let b = Browser::start();
    b.viewport(1280, 800);
    b.goto(&format!("{base}/"));
    // Without the token the page says so instead of showing data.
    b.wait_for(
        "the token prompt",
        "return document.querySelector('#status.error')?.textContent.includes('token');",
    );
    // The page asked /api/auth first: no request was refused, nothing logged.
    let before_token = severe(&b.console());
    assert!(
        before_token.is_empty(),
        "console errors before the token: {before_token:?}"
    );
    b.js(
        "document.querySelector('#token-input').value = arguments[0];
         document.querySelector('#token-form').requestSubmit();",
        &[json!(TOKEN)],
    );
    let live_run = b
        .wait_for(
            "the live run's row",
            "return document.querySelector('tr[data-run-id] .badge.warn')?.closest('tr').dataset.runId;",
        )
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(live_run, done_run);
    assert!(!b.js("return location.href;", &[]).as_str().unwrap().contains(TOKEN));
    assert_eq!(
        b.js("return sessionStorage.getItem('bykilt-token');", &[]),
        json!(TOKEN)
    );
    // Both runs, with their counts.
    assert_eq!(count(&b, &done_run, "count-completed"), 5);
    assert_eq!(count(&b, &done_run, "count-failed"), 1);
    assert!(
        b.js(
            "return !!document.querySelector(`tr[data-run-id=\"${arguments[0]}\"] [role=progressbar]`);",
            &[json!(live_run)]
        ) == json!(true)
    );

    // Live counts grow without a reload.
    b.js("window.__noReload = true;", &[]);
    let first = count(&b, &live_run, "count-completed") + count(&b, &live_run, "count-failed");
    let grown = poll(Duration::from_secs(15), || {
        let now = count(&b, &live_run, "count-completed") + count(&b, &live_run, "count-failed");
        (now > first).then_some(now)
    });
    assert!(grown.is_some(), "finished count stayed at {first}");
    assert_eq!(
        b.js("return window.__noReload === true;", &[]),
        json!(true),
        "the page was not reloaded"
    );
    let eta = b.js(
        "return document.querySelector(`tr[data-run-id=\"${arguments[0]}\"] .eta`).textContent;",
        &[json!(live_run)],
    );
    assert!(eta.as_str().unwrap().ends_with('s'), "an ETA in seconds: {eta}");
    // The alert, as the evaluator beside the server holds it: name, state,
    // since, labels and value.
    let row = b.wait_for(
        "the firing alert's row",
        "const r = document.querySelector('#alerts-table tr[data-alert=\"JobsFailing\"]');
         if (!r || r.querySelector('.alert-state').textContent !== 'firing') { return null; }
         return ['alert-name', 'alert-since', 'alert-labels', 'alert-value'].map((c) => r.querySelector('.' + c).textContent);",
    );
    let cells: Vec<&str> = row.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(cells[0], "JobsFailing");
    let since = cells[1].rsplit_once(" (").unwrap().1.trim_end_matches(')');
    assert!(
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).is_ok(),
        "{cells:?}"
    );
    let batch_id = batch_engine::list_batches(&s.root())
        .unwrap()
        .into_iter()
        .map(|b| b.batch_id)
        .find(|id| batch_engine::run_id_of(id).is_ok_and(|r| r == live_run))
        .expect("the live run's batch");
    assert!(
        cells[2].contains("severity=page") && cells[2].contains(&format!("batch_id={batch_id}")),
        "{cells:?} for {batch_id}"
    );
    assert!(cells[3].parse::<f64>().unwrap() >= 3.0, "{cells:?}");
    let shots = screenshots_dir();
    b.full_page_screenshot(1280, &shots.join("runs-1280.png"));
    b.full_page_screenshot(390, &shots.join("runs-390.png"));

    // Series view: names, sparklines, search, click through.
    b.viewport(1280, 800);
    b.js("location.hash = '#/series';", &[]);
    b.wait_for(
        "the series table",
        "return document.querySelector('tr[data-series=\"job_status\"]');",
    );
    for name in ["job_duration_seconds", "job_status", "job_queue_seconds"] {
        assert!(
            b.js(
                "return !!document.querySelector(`tr[data-series=\"${arguments[0]}\"]`);",
                &[json!(name)]
            ) == json!(true),
            "{name} is listed"
        );
    }
    b.wait_for(
        "a painted sparkline",
        "return document.querySelectorAll('canvas.spark').length > 0;",
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        painted(&b, "tr[data-series=\"job_duration_seconds\"] canvas.spark") > 0,
        "sparkline drawn"
    );
    b.full_page_screenshot(1280, &shots.join("series-1280.png"));
    b.full_page_screenshot(390, &shots.join("series-390.png"));
    b.viewport(1280, 800);
    // Let the redraw for the restored width finish before typing.
    std::thread::sleep(Duration::from_millis(800));
    b.js(
        "const s = document.querySelector('#series-search'); s.value = 'queue'; s.dispatchEvent(new Event('input'));",
        &[],
    );
    let rows = b.js(
        "return [...document.querySelectorAll('tr[data-series]')].map(r => r.dataset.series);",
        &[],
    );
    assert_eq!(rows, json!(["job_queue_seconds"]), "search keeps matching series only");
    b.js(
        "document.querySelector('tr[data-series=\"job_queue_seconds\"] a').click();",
        &[],
    );
    b.wait_for(
        "the series page",
        "return location.hash === '#/series/job_queue_seconds' && document.querySelector('#series-chart');",
    );

    // Series page: one line per tag set, and the tag filter changes the chart.
    b.js("location.hash = '#/series/job_status';", &[]);
    b.wait_for(
        "the status filter",
        "return document.querySelector('#tag-filter-status');",
    );
    b.wait_for(
        "several lines",
        "return document.querySelectorAll('#series-legend span').length > 1;",
    );
    assert!(painted(&b, "#series-chart") > 0, "the chart is drawn");
    let lines_before = b.js("return document.querySelectorAll('#series-legend span').length;", &[]);
    let pixels_before = b.js("return document.querySelector('#series-chart').toDataURL();", &[]);
    b.full_page_screenshot(1280, &shots.join("series-page-1280.png"));
    b.full_page_screenshot(390, &shots.join("series-page-390.png"));
    phone_width_series_page(&b);
    b.viewport(1280, 800);
    std::thread::sleep(Duration::from_millis(800));
    b.js(
        "const s = document.querySelector('#tag-filter-status'); s.value = 'failed'; s.dispatchEvent(new Event('change'));",
        &[],
    );
    let legend = b.wait_for(
        "the filtered chart",
        "const l = [...document.querySelectorAll('#series-legend span')].map(s => s.textContent);
         return l.length === 1 && l[0].includes('status=failed') ? l : null;",
    );
    assert!(
        lines_before.as_u64().unwrap() > 1,
        "{lines_before} lines before the filter; after: {legend}"
    );
    let pixels_after = b.js("return document.querySelector('#series-chart').toDataURL();", &[]);
    assert_ne!(pixels_before, pixels_after, "the filter changes what the chart shows");
    // Hover: the nearest sample's value, timestamp and tags.
    let tip = b.js(
        "const c = document.querySelector('#series-chart'); const r = c.getBoundingClientRect();
         for (let y = r.top + 5; y < r.bottom; y += 6) { for (let x = r.left + 60; x < r.right; x += 6) {
           c.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
           const t = document.querySelector('#tooltip');
           if (!t.hidden) { return t.textContent; } } }
         return null;",
        &[],
    );
    let tip = tip.as_str().expect("a tooltip appears over the line").to_owned();
    assert!(
        tip.contains("UTC") && tip.contains("status=failed") && tip.contains("count"),
        "{tip}"
    );
    // Zoom: a drag narrows the time axis, a double-click restores it (one
    // synchronous script, so no live refresh comes in between).
    let zoom = b.js(
        "const c = document.querySelector('#series-chart'); const r = c.getBoundingClientRect();
         const y = r.top + r.height / 2, ev = (t, x) => c.dispatchEvent(new MouseEvent(t, { clientX: x, clientY: y, bubbles: true }));
         c.dispatchEvent(new MouseEvent('mouseleave'));
         const before = c.toDataURL();
         ev('mousedown', r.left + r.width * 0.4); ev('mousemove', r.left + r.width * 0.6); ev('mouseup', r.left + r.width * 0.6);
         const zoomed = c.toDataURL();
         c.dispatchEvent(new MouseEvent('dblclick', { bubbles: true }));
         c.dispatchEvent(new MouseEvent('mouseleave'));
         return [before !== zoomed, before === c.toDataURL()];",
        &[],
    );
    assert_eq!(zoom, json!([true, true]), "[drag zooms, double-click resets]");
    // The text alternative: the numbers behind the chart.
    b.js("document.querySelector('.table-toggle').click();", &[]);
    let rows = b.wait_for(
        "the numbers table",
        "return document.querySelectorAll('.data-table tbody tr').length;",
    );
    assert!(rows.as_u64().unwrap() > 0);
    let cell = b.js(
        "return document.querySelector('.data-table tbody tr td:nth-child(3)').textContent;",
        &[],
    );
    assert!(cell.as_str().unwrap().contains("status=failed"), "{cell}");
    // Every request the page makes from here is recorded: the token travels
    // in the Authorization header, never in a URL, and each time range asks
    // the API for its window.
    b.js(
        "window.__requests = []; const f = window.fetch;
         window.fetch = (url, opts) => {
           window.__requests.push([String(url), (opts && opts.headers && opts.headers.Authorization) || '']);
           return f(url, opts);
         };",
        &[],
    );
    let ranges = [
        ("5m", Some(300)),
        ("1h", Some(3600)),
        ("24h", Some(86_400)),
        ("7d", Some(604_800)),
        ("run", None),
    ];
    for (range, since) in ranges {
        b.js(
            "window.__requests = []; document.querySelector(`button[data-range=\"${arguments[0]}\"]`).click();",
            &[json!(range)],
        );
        let requests = b.wait_for(
            "the series request",
            "const r = window.__requests.filter(r => r[0].startsWith('/api/metrics/series/job_status/chart?'));
             return r.length ? r : null;",
        );
        let (url, auth) = (requests[0][0].as_str().unwrap(), requests[0][1].as_str().unwrap());
        assert_eq!(auth, format!("Bearer {TOKEN}"), "{url}");
        assert!(!url.contains(TOKEN), "{url}");
        assert!(url.contains("tag=status%3Dfailed"), "the filter is kept: {url}");
        let asked: Option<u64> = url
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("since_seconds="))
            .map(|v| v.parse().unwrap());
        match since {
            Some(secs) => assert_eq!(asked, Some(secs), "{range}: {url}"),
            // The run's window starts at its first job: under a minute ago here.
            None => assert!(asked.is_some_and(|s| s < 300), "{range}: {url}"),
        }
        b.wait_for(
            "the range button",
            &format!("return document.querySelector('button[data-range=\"{range}\"]').classList.contains('on');"),
        );
    }

    // A histogram: bucket distribution and percentiles over time.
    b.js("location.hash = '#/series/job_duration_seconds';", &[]);
    b.wait_for("the bucket chart", "return document.querySelector('#bucket-chart');");
    std::thread::sleep(Duration::from_millis(200));
    for canvas in ["#series-chart", "#bucket-chart", "#percentile-chart"] {
        assert!(painted(&b, canvas) > 0, "{canvas} is drawn");
    }
    let stats = b.js("return document.querySelector('#series-stats').textContent;", &[]);
    for p in ["p50", "p90", "p99", " s"] {
        assert!(stats.as_str().unwrap().contains(p), "{p} in {stats}");
    }
    b.full_page_screenshot(1280, &shots.join("histogram-1280.png"));
    b.full_page_screenshot(390, &shots.join("histogram-390.png"));

    // Dark when the system asks for it.
    b.cdp(
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
    );
    let bg = b.js("return getComputedStyle(document.body).backgroundColor;", &[]);
    let rgb: Vec<u32> = bg
        .as_str()
        .unwrap()
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .map(|c| c.trim().parse().unwrap())
        .collect();
    assert!(rgb.iter().all(|c| *c < 64), "a dark background: {bg}");
    b.full_page_screenshot(1280, &shots.join("histogram-dark-1280.png"));

    let errors = severe(&b.console());
    assert!(errors.is_empty(), "console errors: {errors:?}");
    for f in ["runs", "series", "series-page", "histogram"] {
        for w in [1280, 390] {
            let p = shots.join(format!("{f}-{w}.png"));
            assert!(
                std::fs::metadata(&p).map(|m| m.len() > 1000).unwrap_or(false),
                "{}",
                p.display()
            );
        }
    }
}
