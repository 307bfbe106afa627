//! `bykilt metrics query|runs|import`, and `metrics summary` answered from
//! the metrics database.

use std::path::Path;
use std::time::Duration;

use metrics_store::time_spec::{format_nanos, parse_time, unix_nanos};
use metrics_store::{MetricsStore, RunFilter, RunInfo, SampleQuery, StoreOptions, StoreReader};

use crate::EXIT_ALL_COMPLETED;
use crate::cli::{ImportArgs, QueryArgs, ReadDbArgs};
use crate::commands::metrics::close_names_hint;
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

pub(crate) fn since_nanos(since: Option<Duration>) -> Option<i64> {
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

/// The runs `run` / `all_runs` select in the database at `reader`, with
/// `run` resolved as every command resolves a run id (`batch-<run_id>`,
/// `<run_id>`, an unambiguous prefix): against the runs under `root` first
/// (a prefix two batches share is ambiguous even when only one of them is
/// stored), then against the database's own names (an imported run has no
/// directory under `root`).
pub(crate) fn stored_runs(
    reader: &StoreReader,
    root: &Path,
    run: Option<&str>,
    all_runs: bool,
) -> Result<RunFilter, CliError> {
    let filter = runs_filter(run, all_runs);
    let RunFilter::Named(input) = &filter else {
        return Ok(filter);
    };
    match batch_engine::resolve_run_id(root, input) {
        Ok(id) => {
            let exact = RunFilter::Named(id.clone());
            match reader.named_run(&exact) {
                Ok(Some(name)) if name == id => Ok(exact),
                _ => Err(explain_run(
                    metrics_store::StoreError::UnknownRun {
                        path: reader.path().to_owned(),
                        input: input.clone(),
                        closest: Vec::new(),
                    },
                    root,
                )),
            }
        }
        Err(e @ batch_engine::BatchError::AmbiguousId { .. }) => Err(e.into()),
        Err(_) => {
            let name = reader.named_run(&filter).map_err(|e| explain_run(e, root))?;
            Ok(name.map_or(RunFilter::All, RunFilter::Named))
        }
    }
}

/// A store error, with a run the database lacks explained when the run
/// exists under `root` all the same (recorded with `--no-db`, or while the
/// database was held by another batch): how to load it.
fn explain_run(e: metrics_store::StoreError, root: &Path) -> CliError {
    if let metrics_store::StoreError::UnknownRun { path, input, .. } = &e
        && let Ok(id) = batch_engine::resolve_run_id(root, input)
        && let Ok(ctx) = batch_engine::RunContext::with_run_id(root, &id)
    {
        let json = super::metrics::run_metrics_json(&ctx);
        return CliError::Usage(format!(
            "run {id} exists under {} but is not in the database {} (it was recorded with --no-db, or without the database); load it with `bykilt metrics import {}{}`",
            root.display(),
            path.display(),
            json.display(),
            if path == &crate::commands::store::default_db(root) {
                String::new()
            } else {
                format!(" --db {}", path.display())
            }
        ));
    }
    e.into()
}

/// `bykilt metrics query`.
pub(crate) fn query(args: &QueryArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    // Zero samples asked for would print nothing and look like an empty selection.
    if args.limit == Some(0) {
        return Err(CliError::Usage(
            "--limit 0: at least 1 sample (the newest N are listed; omit --limit for every one)".to_owned(),
        ));
    }
    let reader = open(&read_path(&args.db, root))?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time(t, time::OffsetDateTime::now_utc()).map(unix_nanos))
        .transpose()
        .map_err(|e| CliError::Usage(format!("--until: {e}")))?;
    let q = SampleQuery {
        name: args.name.clone(),
        runs: stored_runs(&reader, root, args.run.as_deref(), args.all_runs)?,
        since: since_nanos(args.since),
        until,
        tags: args.tag.clone(),
        limit: args.limit,
    };
    let samples = reader.query(&q).map_err(|e| explain_run(e, root))?;
    if samples.is_empty() {
        let names: Vec<String> = reader.series()?.into_iter().map(|s| s.name).collect();
        if !names.contains(&args.name) {
            return Err(CliError::Usage(format!(
                "{}: no metric {:?} in the database{}",
                reader.path().display(),
                args.name,
                close_names_hint(&args.name, &names)
            )));
        }
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
        "{:<28} {:<30} {:<30} {:>10}  series\n",
        "run", "started", "ended", "samples"
    );
    for r in &runs {
        let series: Vec<String> = r.series.iter().map(|s| format!("{} ({})", s.name, s.samples)).collect();
        text.push_str(&format!(
            "{:<28} {:<30} {:<30} {:>10}  {}\n",
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

/// When the batch of the run whose `<run>/metrics/metrics.json` is `file`
/// was created (ns since the epoch), from its manifest beside it
/// (`<run>/batch/manifest.json`); `None` without one.
fn batch_created_at(file: &Path) -> Option<i64> {
    let run_dir = file.parent()?.parent()?;
    let manifest = batch_engine::BatchManifest::load(&run_dir.join("batch").join(batch_engine::MANIFEST_FILE)).ok()?;
    Some(unix_nanos(manifest.created_at))
}

/// `bykilt metrics import`: refuses a run the database has already (its
/// samples would count twice); the run's start and end are its own (its
/// batch's creation or its first sample, its last sample), not the import's.
/// The directory of the database an import creates: the artifacts root for
/// the default `<artifacts>/metrics.db` is created (that one level, as a
/// batch run makes it); a missing directory of a named `--db` is an error
/// naming it, rather than SQLite's "unable to open database file".
fn ensure_db_dir(db: &Path, default: bool, root: &Path) -> Result<(), CliError> {
    if default {
        return match std::fs::create_dir(root) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(CliError::io("creating", root, e)),
            _ => Ok(()),
        };
    }
    match db.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(CliError::Usage(format!(
            "--db {}: its directory {} does not exist",
            db.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn import(args: &ImportArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| CliError::io("reading", &args.file, e))?;
    let path = read_path(&args.db, root);
    ensure_db_dir(&path, args.db.db.is_none(), root)?;
    let store = MetricsStore::open(&path, StoreOptions::default())?;
    let name = args.run.clone().unwrap_or_else(|| run_of(&args.file));
    // A run left empty (an import that failed) is taken again.
    if let Some(existing) = store.find_run(&name)?
        && !store.delete_run_if_empty(existing)?
    {
        return Err(CliError::Usage(format!(
            "run {name} is already in the database {}: importing {} again would count its samples twice; `--run NAME` imports it under another name",
            path.display(),
            args.file.display()
        )));
    }
    let run = store.begin_run(&RunInfo::current(&name))?;
    let imported = match store.import_json(run, &text, &args.file.display().to_string()) {
        Ok(i) => i,
        Err(e) => {
            // Nothing of the file was stored: the empty run goes too.
            let _ = store.delete_run_if_empty(run);
            return Err(e.into());
        }
    };
    let now = unix_nanos(time::OffsetDateTime::now_utc());
    let started = batch_created_at(&args.file)
        .into_iter()
        .chain(imported.first_sample)
        .min()
        .unwrap_or(now);
    let ended = imported.last_sample.unwrap_or(started).max(started);
    store.set_run_span(run, started, ended)?;
    out.text(&format!(
        "imported {} samples of {} series into run {name} ({} to {}) of {}\n",
        imported.samples,
        imported.series,
        format_nanos(started),
        format_nanos(ended),
        path.display()
    ));
    out.json(&serde_json::json!({
        "run": name,
        "db": path,
        "series": imported.series,
        "samples": imported.samples,
        "aggregates": imported.aggregates,
        "started_at": format_nanos(started),
        "ended_at": format_nanos(ended),
    }));
    Ok(EXIT_ALL_COMPLETED)
}

/// `bykilt metrics summary` from the database: `None` when the default
/// database does not exist, or the database lacks the named run, and
/// `--all-runs` was not asked for, so the caller reads the run's
/// metrics.json as before.
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
    let filter = stored_runs(&reader, root, run, all_runs).and_then(|f| Ok((reader.resolve_run(&f)?, f)));
    // Without --all-runs, a database (the default or --db) that lacks the
    // run asked for (or has none) leaves the question to the run's
    // metrics.json, as the other commands reading a run do.
    let filter = match filter {
        Ok((_, f)) => f,
        Err(_) if !all_runs => return Ok(None),
        Err(e) => return Err(e),
    };
    let label = reader
        .named_run(&filter)
        .map_err(|e| explain_run(e, root))?
        .unwrap_or_else(|| "all runs".to_owned());
    let q = SampleQuery {
        name: name.to_owned(),
        runs: match filter {
            RunFilter::All => RunFilter::All,
            _ => RunFilter::Named(label.clone()),
        },
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
            "{}: metric {name:?} {} in {label}",
            path.display(),
            crate::output::no_samples_matching(tags, since)
        ))),
    }
}

/// The run `run` names (its id, or a prefix of one, under `root`), or the
/// latest run directory that the database or a metrics.json has.
pub(crate) fn wanted_run(root: &Path, run: Option<&str>, stored: &std::collections::HashSet<String>) -> Option<String> {
    match run {
        Some(id) => Some(batch_engine::resolve_run_id(root, id).unwrap_or_else(|_| id.to_owned())),
        None => batch_engine::list_runs(root).ok()?.into_iter().rev().find(|id| {
            stored.contains(id)
                || batch_engine::RunContext::with_run_id(root, id)
                    .is_ok_and(|ctx| super::metrics::run_metrics_json(&ctx).exists())
        }),
    }
}

/// A run's metrics read back from the database into a private collector
/// ([`StoreReader::run_collector`], so that every format reads it as it
/// would the run's metrics.json, and as the database server's `/metrics`
/// shows it): each series' description and unit, every sample with its
/// tags, and the aggregates of the run's latest snapshot (tag sets that
/// kept no samples). `None` when the database does not
/// exist (and no `--db` was given) or lacks the run: the caller reads the
/// run's metrics.json then. Returns the database read too.
pub(crate) fn load_stored_run(
    root: &Path,
    run: Option<&str>,
    db: &ReadDbArgs,
) -> Result<
    Option<(
        batch_engine::RunContext,
        metrics_core::MetricsCollector,
        std::path::PathBuf,
    )>,
    CliError,
> {
    let path = read_path(db, root);
    if db.db.is_none() && !path.exists() {
        return Ok(None);
    }
    let reader = open(&path)?;
    let stored: std::collections::HashSet<String> = reader.runs()?.into_iter().map(|r| r.name).collect();
    let Some(name) = wanted_run(root, run, &stored).filter(|n| stored.contains(n)) else {
        return Ok(None);
    };
    let Ok(ctx) = batch_engine::RunContext::with_run_id(root, &name) else {
        return Ok(None);
    };
    let (_, collector) = reader.run_collector(&RunFilter::Named(name))?;
    Ok(Some((ctx, collector, path)))
}

/// Whether the database at `path` holds run `name`.
///
/// # Errors
/// A database that cannot be read.
pub(crate) fn has_stored_run(path: &Path, name: &str) -> Result<bool, CliError> {
    Ok(open(path)?.runs()?.iter().any(|r| r.name == name))
}

/// Replays run `name` of the database into `collector`, as
/// [`load_stored_run`] reads it: the store's one rebuild of a run
/// ([`StoreReader::replay_run`]), which the database server's `/metrics`
/// shows too.
pub(crate) fn replay_stored_run(
    reader: &StoreReader,
    name: &str,
    collector: &metrics_core::MetricsCollector,
) -> Result<(), CliError> {
    reader.replay_run(&RunFilter::Named(name.to_owned()), collector)?;
    Ok(())
}
