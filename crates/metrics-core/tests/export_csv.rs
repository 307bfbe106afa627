//! CSV export: header and rows, hostile series names as file names, and
//! cells that a spreadsheet would evaluate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use metrics_core::export::sanitize_file_stem;
use metrics_core::{MAX_NAME_LEN, MetricType, MetricsCollector, MetricsConfig};

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Every file and directory under `root`, recursively.
fn walk(root: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.insert(path);
        }
    }
    found
}

#[test]
fn header_is_timestamp_value_then_sorted_tag_keys() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("jobs", 1.0, &[("zone", "a"), ("batch", "b1")], MetricType::Counter)
        .unwrap();
    c.record_metric("jobs", 2.0, &[("status", "ok")], MetricType::Counter)
        .unwrap();
    c.record_metric("jobs", 3.0, &[], MetricType::Counter).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = c.export_to_csv(dir.path()).unwrap();
    assert_eq!(
        paths,
        vec![dir.path().join("jobs.csv"), dir.path().join("_aggregates.csv")]
    );
    let (header, rows) = read_csv(&paths[0]);
    assert_eq!(header, ["timestamp", "value", "batch", "status", "zone"]);
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][1..], ["1", "b1", "", "a"]);
    assert_eq!(&rows[1][1..], ["2", "", "ok", ""]);
    assert_eq!(&rows[2][1..], ["3", "", "", ""]);
    let values = c.get_metric_series("jobs").unwrap().values();
    for (row, v) in rows.iter().zip(&values) {
        let ts = time::OffsetDateTime::parse(&row[0], &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(ts, v.timestamp);
    }
}

#[test]
fn a_series_without_tags_has_just_timestamp_and_value() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("temperature", -12.5, &[], MetricType::Gauge).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = c.export_to_csv(dir.path()).unwrap();
    let (header, rows) = read_csv(&paths[0]);
    assert_eq!(header, ["timestamp", "value"]);
    // The numeric column is a plain number, not an escaped text cell.
    assert_eq!(rows[0][1], "-12.5");
}

/// The hostile names the store accepts, recorded with a distinct value each.
fn hostile_names() -> Vec<String> {
    let mut long = "../".repeat(MAX_NAME_LEN / 3);
    long.push_str(&"y".repeat(MAX_NAME_LEN - long.len()));
    assert_eq!(long.len(), MAX_NAME_LEN);
    vec![
        "../../x".into(),
        "a/b".into(),
        "a:b".into(),
        "a_b".into(),
        "A_B".into(),
        "CON".into(),
        "con.csv".into(),
        "..".into(),
        ".".into(),
        ".hidden".into(),
        "/etc/passwd".into(),
        "C:\\Windows\\x".into(),
        "a b*?<>|".into(),
        "метрика".into(),
        long,
    ]
}

#[test]
fn hostile_series_names_each_get_their_own_file_inside_the_directory() {
    let c = MetricsCollector::new(MetricsConfig::default());
    let names = hostile_names();
    for (i, name) in names.iter().enumerate() {
        c.record_metric(name, i as f64, &[], MetricType::Gauge).unwrap();
    }
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("out");
    let mut paths = c.export_to_csv(&dir).unwrap();
    // One file per series, then the aggregates file.
    assert_eq!(paths.pop(), Some(dir.join("_aggregates.csv")));
    assert_eq!(paths.len(), names.len());

    let distinct: HashSet<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_lowercase())
        .collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "file names collide (ignoring case): {paths:?}"
    );
    for p in &paths {
        assert_eq!(p.parent(), Some(dir.as_path()), "{p:?} is not directly in {dir:?}");
        let file = p.file_name().unwrap().to_str().unwrap();
        assert!(file.ends_with(".csv") && !file.starts_with('.'), "{file}");
        assert!(file.len() <= 255, "{} bytes: {file}", file.len());
    }

    // Nothing but the directory, one file per series and the aggregates
    // file exists under the parent.
    let mut expected: BTreeSet<PathBuf> = paths.iter().cloned().collect();
    expected.insert(dir.clone());
    expected.insert(dir.join("_aggregates.csv"));
    assert_eq!(walk(parent.path()), expected);

    // Each file holds its own series' value: no series overwrote another.
    let by_name: Vec<String> = c.list_series().into_iter().map(|s| s.name).collect();
    for (path, name) in paths.iter().zip(&by_name) {
        let i = names.iter().position(|n| n == name).unwrap();
        let (_, rows) = read_csv(path);
        assert_eq!(rows.len(), 1, "{name:?}");
        assert_eq!(rows[0][1], (i as f64).to_string(), "{name:?} -> {path:?}");
    }
}

#[test]
fn exporting_twice_replaces_the_same_files() {
    let c = MetricsCollector::new(MetricsConfig::default());
    for name in hostile_names() {
        c.record_metric(&name, 1.0, &[], MetricType::Gauge).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let first = c.export_to_csv(dir.path()).unwrap();
    c.record_metric("a/b", 2.0, &[], MetricType::Gauge).unwrap();
    let second = c.export_to_csv(dir.path()).unwrap();
    assert_eq!(first, second);
    assert_eq!(walk(dir.path()).len(), first.len(), "no stale or temporary files");
    let ab = c.list_series().iter().position(|s| s.name == "a/b").unwrap();
    assert_eq!(read_csv(&second[ab]).1.len(), 2);
}

#[test]
fn sanitized_stems_are_safe_for_names_the_store_rejects_too() {
    let ten_kb = "n".repeat(10 * 1024);
    let ten_kb_slashes = "../".repeat(3 * 1024);
    let cases = [
        "",
        "CON",
        "nul",
        "com1.txt",
        "lpt9",
        "a\0b",
        "\n",
        &ten_kb,
        &ten_kb_slashes,
    ];
    let mut used = HashSet::new();
    let mut stems = HashSet::new();
    for name in cases {
        let stem = sanitize_file_stem(name, &mut used);
        assert!(!stem.is_empty(), "{name:?}");
        assert!(
            stem.len() + ".csv".len() <= 255,
            "{} bytes for a {}-byte name",
            stem.len(),
            name.len()
        );
        assert!(
            stem.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "{name:?} -> {stem:?}"
        );
        assert!(!stem.starts_with('.'), "{name:?} -> {stem:?}");
        let device = stem.split('.').next().unwrap().to_ascii_lowercase();
        assert!(
            !["con", "nul", "com1", "lpt9"].contains(&device.as_str()),
            "{name:?} -> {stem:?}"
        );
        assert!(stems.insert(stem.to_ascii_lowercase()), "{name:?} -> {stem:?} reused");
    }
}

#[test]
fn names_that_sanitize_alike_get_distinct_stems_in_any_order() {
    let names = ["a/b", "a:b", "a_b", "a?b", "A_B", "a_b-2"];
    for rotation in 0..names.len() {
        let mut used = HashSet::new();
        let mut seen = HashSet::new();
        for name in names.iter().cycle().skip(rotation).take(names.len()) {
            let stem = sanitize_file_stem(name, &mut used);
            assert!(seen.insert(stem.to_ascii_lowercase()), "{name} -> {stem} reused");
        }
    }
}

#[test]
fn formula_cells_are_escaped_in_tag_cells_and_headers() {
    let c = MetricsCollector::new(MetricsConfig::default());
    let tags: [(&str, &str); 6] = [
        ("eq", "=HYPERLINK(\"http://x\")"),
        ("plus", "+1"),
        ("minus", "-2"),
        ("at", "@SUM(A1)"),
        ("tab", "\tx"),
        ("plain", "ok-=+@"),
    ];
    c.record_metric("cells", 1.0, &tags, MetricType::Gauge).unwrap();
    c.record_metric("keys", 1.0, &[("=cmd", "v")], MetricType::Gauge)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = c.export_to_csv(dir.path()).unwrap();
    let (header, rows) = read_csv(&paths[0]);
    assert_eq!(
        header,
        ["timestamp", "value", "at", "eq", "minus", "plain", "plus", "tab"]
    );
    assert_eq!(
        &rows[0][2..],
        ["'@SUM(A1)", "'=HYPERLINK(\"http://x\")", "'-2", "ok-=+@", "'+1", "'\tx"]
    );
    let (header, _) = read_csv(&paths[1]);
    assert_eq!(header, ["timestamp", "value", "'=cmd"]);
}

#[test]
fn quotes_commas_and_newlines_in_tag_values_survive_a_csv_round_trip() {
    let c = MetricsCollector::new(MetricsConfig::default());
    let tricky = [
        "said \"hi\"",
        "a,b,c",
        "line one\nline two",
        "cr\r\nlf",
        "\"",
        "",
        "ünïcødé ✓",
        " padded ",
    ];
    for (i, v) in tricky.iter().enumerate() {
        c.record_metric("notes", i as f64, &[("note", *v)], MetricType::Gauge)
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = c.export_to_csv(dir.path()).unwrap();
    let (header, rows) = read_csv(&paths[0]);
    assert_eq!(header, ["timestamp", "value", "note"]);
    let got: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(got, tricky);
}

#[test]
fn an_unwritable_directory_is_an_io_error_naming_it() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("m", 1.0, &[], MetricType::Gauge).unwrap();
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = c.export_to_csv(&file).unwrap_err();
    assert!(matches!(err, metrics_core::MetricsError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn the_aggregates_file_lists_every_tag_set_with_its_aggregate_description_and_unit() {
    use metrics_core::export::csv::{AGGREGATES_FILE, AGGREGATES_HEADER};
    let c = MetricsCollector::new(MetricsConfig::default());
    c.describe_metric(
        "job_errors",
        MetricType::Counter,
        metrics_core::MetricOptions {
            description: Some("Failed attempts by error type".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // Aggregate-only tag sets: a counter that stayed at 0 and one at 3 keep
    // no samples, so the per-series file has a header only.
    c.counter("job_errors", &[("error_type", "timeout")])
        .unwrap()
        .increment(0);
    c.counter("job_errors", &[("error_type", "exit=1; \"bad\"")])
        .unwrap()
        .increment(3);
    c.gauge("jobs_in_flight", &[]).unwrap().set(2.5);
    c.record_metric("job_seconds", 0.5, &[("q", "a")], MetricType::Timer)
        .unwrap();
    c.record_metric("job_seconds", 1.5, &[("q", "a")], MetricType::Timer)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    let paths = c.export_to_csv(&out).unwrap();
    assert_eq!(paths.last().unwrap(), &out.join(AGGREGATES_FILE));
    let (header, rows) = read_csv(&out.join("job_errors.csv"));
    assert_eq!(header, ["timestamp", "value"]);
    assert!(rows.is_empty(), "{rows:?}");

    let (header, rows) = read_csv(&out.join(AGGREGATES_FILE));
    assert_eq!(header, AGGREGATES_HEADER);
    let col = |name: &str| AGGREGATES_HEADER.iter().position(|h| *h == name).unwrap();
    let row_of = |series: &str, tags: &str| -> Vec<String> {
        rows.iter()
            .find(|r| r[col("series")] == series && r[col("tags")] == tags)
            .unwrap_or_else(|| panic!("no row {series} {tags} in {rows:?}"))
            .clone()
    };
    let zero = row_of("job_errors", r#"{"error_type":"timeout"}"#);
    assert_eq!(zero[col("type")], "counter");
    assert_eq!(zero[col("value")], "0");
    assert_eq!(zero[col("description")], "Failed attempts by error type");
    let three = row_of("job_errors", r#"{"error_type":"exit=1; \"bad\""}"#);
    assert_eq!(three[col("value")], "3");
    assert_eq!(row_of("jobs_in_flight", "{}")[col("value")], "2.5");
    let timer = row_of("job_seconds", r#"{"q":"a"}"#);
    assert_eq!(timer[col("count")], "2");
    assert_eq!(timer[col("sum")], "2");
    assert_eq!(timer[col("min")], "0.5");
    assert_eq!(timer[col("max")], "1.5");
    assert_eq!(timer[col("value")], "");
    assert_eq!(rows.len(), 4, "{rows:?}");
}

#[test]
fn a_series_named_like_the_aggregates_file_gets_a_file_of_its_own() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("_aggregates", 1.0, &[], MetricType::Gauge).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = c.export_to_csv(dir.path().join("csv")).unwrap();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_ne!(paths[0], paths[1]);
    let (_, rows) = read_csv(&paths[0]);
    assert_eq!(rows.len(), 1, "the series' own samples");
}
