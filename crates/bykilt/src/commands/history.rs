//! `bykilt metrics query|runs|import`, and `metrics summary` answered from
//! the metrics database.

use std::path::Path;
use std::time::Duration;

use metrics_store::time_spec::{format_nanos, parse_time, unix_nanos};
use metrics_store::{MetricsStore, RunFilter, RunInfo, SampleQuery, StoreOptions, StoreReader};

use crate::EXIT_ALL_COMPLETED;
use crate::cli::{ImportArgs, QueryArgs, ReadDbArgs};
use crate::commands::store::read_path;
use crate::error::CliError;
use crate::output::{Output, metric_summary_table};

fn runs_filter(run: Option<&str>, all_runs: bool) -> RunFilter {
    match (run, all_runs) {
        (_, true) => RunFilter::All,
        (Some(r), false) => RunFilter::Named(r.to_owned()),
        (None, false) => RunFilter::Latest,
    }
}

fn since_nanos(since: Option<Duration>) -> Option<i64> {
    since.map(|d| {
        let now = time::OffsetDateTime::now_utc();
        time::Duration::try_from(d)
            .ok()
            .and_then(|d| now.checked_sub(d))
            .map_or(i64::MIN, unix_nanos)
    })
}

fn open(path: &Path) -> Result<StoreReader, CliError> {
    Ok(StoreReader::open(path)?)
}

/// `bykilt metrics query`.
pub(crate) fn query(args: &QueryArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let reader = open(&read_path(&args.db, root))?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time(t, time::OffsetDateTime::now_utc()).map(unix_nanos))
        .transpose()
        .map_err(|e| CliError::Usage(format!("--until: {e}")))?;
    let q = SampleQuery {
        name: args.name.clone(),
        runs: runs_filter(args.run.as_deref(), args.all_runs),
        since: since_nanos(args.since),
        until,
        tags: args.tag.clone(),
        limit: args.limit,
    };
    let samples = reader.query(&q)?;
    if samples.is_empty() && !reader.series()?.iter().any(|s| s.name == args.name) {
        return Err(CliError::Usage(format!(
            "{}: no metric {:?} in the database",
            reader.path().display(),
            args.name
        )));
    }
    let mut text = String::new();
    for s in &samples {
        let tags: Vec<String> = s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!(
            "{}  {}  run={}  {}\n",
            format_nanos(s.timestamp_nanos),
            s.value,
            s.run,
            tags.join(",")
        ));
    }
    out.text(&text);
    let rows: Vec<_> = samples
        .iter()
        .map(|s| {
            serde_json::json!({
                "timestamp": format_nanos(s.timestamp_nanos),
                "timestamp_nanos": s.timestamp_nanos,
                "value": s.value,
                "tags": s.tags,
                "run": s.run,
            })
        })
        .collect();
    out.json(&rows);
    Ok(EXIT_ALL_COMPLETED)
}

/// `bykilt metrics runs`.
pub(crate) fn runs(db: &ReadDbArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let reader = open(&read_path(db, root))?;
    let runs = reader.runs()?;
    let mut text = format!(
        "{:<28} {:<25} {:<25} {:>10}  series\n",
        "run", "started", "ended", "samples"
    );
    for r in &runs {
        let series: Vec<String> = r.series.iter().map(|s| format!("{} ({})", s.name, s.samples)).collect();
        text.push_str(&format!(
            "{:<28} {:<25} {:<25} {:>10}  {}\n",
            r.name,
            format_nanos(r.started_at),
            r.ended_at.map_or_else(|| "-".to_owned(), format_nanos),
            r.samples,
            series.join(", ")
        ));
    }
    out.text(&text);
    out.json(&runs);
    Ok(EXIT_ALL_COMPLETED)
}

/// The run name an imported file belongs to: `<run>/metrics/metrics.json`
/// gives `<run>`, anything else its file name.
fn run_of(file: &Path) -> String {
    let dir = file.parent();
    if dir.and_then(Path::file_name).is_some_and(|n| n == "metrics")
        && let Some(run) = dir.and_then(Path::parent).and_then(Path::file_name)
    {
        return run.to_string_lossy().into_owned();
    }
    file.file_stem()
        .map_or_else(|| "imported".to_owned(), |s| s.to_string_lossy().into_owned())
}

/// `bykilt metrics import`.
pub(crate) fn import(args: &ImportArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| CliError::io("reading", &args.file, e))?;
    let path = read_path(&args.db, root);
    let store = MetricsStore::open(&path, StoreOptions::default())?;
    let name = args.run.clone().unwrap_or_else(|| run_of(&args.file));
    let run = store.begin_run(&RunInfo::current(&name))?;
    let imported = store.import_json(run, &text, &args.file.display().to_string())?;
    store.end_run(run)?;
    out.text(&format!(
        "imported {} samples of {} series into run {name} of {}\n",
        imported.samples,
        imported.series,
        path.display()
    ));
    out.json(&serde_json::json!({
        "run": name,
        "db": path,
        "series": imported.series,
        "samples": imported.samples,
        "aggregates": imported.aggregates,
    }));
    Ok(EXIT_ALL_COMPLETED)
}

/// `bykilt metrics summary` from the database: `None` when the database
/// does not exist (or lacks the named run) and `--all-runs` was not asked
/// for, so the caller reads the run's metrics.json as before.
#[allow(clippy::too_many_arguments)]
pub(crate) fn summary(
    name: &str,
    tags: &[(String, String)],
    since: Option<Duration>,
    run: Option<&str>,
    all_runs: bool,
    db: &ReadDbArgs,
    root: &Path,
    out: &mut Output,
) -> Result<Option<i32>, CliError> {
    let path = read_path(db, root);
    if !all_runs && db.db.is_none() && !path.exists() {
        return Ok(None);
    }
    let reader = open(&path)?;
    let filter = runs_filter(run, all_runs);
    // Without --all-runs or --db, a database that lacks the run asked for
    // (or has none) leaves the question to the run's metrics.json.
    if !all_runs && db.db.is_none() && reader.resolve_run(&filter).is_err() {
        return Ok(None);
    }
    let label = match &filter {
        RunFilter::All => "all runs".to_owned(),
        f => {
            let id = reader.resolve_run(f)?;
            let runs = reader.runs()?;
            runs.into_iter()
                .find(|r| Some(r.id) == id)
                .map_or_else(|| "?".to_owned(), |r| r.name)
        }
    };
    let q = SampleQuery {
        name: name.to_owned(),
        runs: filter,
        since: since_nanos(since),
        until: None,
        tags: tags.to_vec(),
        limit: None,
    };
    match reader.summary(&q)? {
        Some(s) => {
            out.text(&metric_summary_table(name, &label, &s));
            out.json(&serde_json::json!({ "metric": name, "run_id": label, "summary": s, "db": path }));
            Ok(Some(EXIT_ALL_COMPLETED))
        }
        None => Err(CliError::Usage(format!(
            "{}: metric {name:?} has no samples in {label} matching the given --tag/--since",
            path.display()
        ))),
    }
}

/// `bykilt serve --db PATH`: serves the metrics database (every run) until
/// SIGINT or SIGTERM.
pub(crate) fn serve(
    listen: std::net::SocketAddr,
    db: &Path,
    token: Option<String>,
    limits: &crate::cli::ServerArgs,
    out: &mut Output,
) -> Result<i32, CliError> {
    // Refuse a missing, foreign or newer file before listening.
    drop(open(db)?);
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
        .map_err(|e| CliError::io("installing signal handlers for", "SIGINT/SIGTERM", e))?;
    let server =
        metrics_api::history::spawn_history_server(listen, db.to_owned(), token, super::expose::server_config(limits))?;
    out.text(&format!(
        "serving {} on http://{}/metrics (runs at /api/runs, samples under /api/metrics/series); Ctrl-C stops\n",
        db.display(),
        server.local_addr()
    ));
    out.json(&serde_json::json!({ "db": db, "listening": server.local_addr().to_string() }));
    let _ = signals.forever().next();
    drop(server);
    Ok(EXIT_ALL_COMPLETED)
}
