//! `bykilt metrics summary|export`, and the run-directory metrics files the
//! batch commands write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use batch_engine::{RunContext, list_runs};

use metrics_core::export::prometheus::TextFormat;
use metrics_core::{MetricsCollector, MetricsConfig, SummaryQuery, TagFilter};

use crate::EXIT_ALL_COMPLETED;
use crate::cli::{ExportFormat, ReadDbArgs};
use crate::error::CliError;
use crate::output::{MetricsPaths, Output, metric_summary_table};

/// A configuration that keeps what a run recorded: samples are not expired
/// for ten years, and the latest 100,000 samples of each series are kept
/// (aggregates, which the exposition formats report, count every event; a
/// batch of a million jobs would otherwise keep four million samples and
/// write them all to metrics.json). The store replays a run with the same
/// configuration.
pub(crate) fn long_retention_config() -> MetricsConfig {
    metrics_store::replay_config()
}

/// `<run>/metrics/metrics.json`.
pub(crate) fn run_metrics_json(ctx: &RunContext) -> PathBuf {
    ctx.run_dir().join("metrics").join("metrics.json")
}

/// Exports `collector` into `<run>/metrics/`: `metrics.json` and `csv/`.
pub(crate) fn export_run_metrics(collector: &MetricsCollector, ctx: &RunContext) -> Result<MetricsPaths, CliError> {
    let dir = ctx.artifact_dir("metrics")?;
    let json = collector.export_json_to(dir.join("metrics.json"))?;
    let csv_dir = dir.join("csv");
    let files = collector.export_to_csv(&csv_dir)?;
    Ok(MetricsPaths {
        json,
        csv_dir,
        csv_files: files.len(),
    })
}

/// Replays a run's stored `metrics.json` into `collector` (nothing when the
/// run has none yet).
pub(crate) fn import_run_metrics(collector: &MetricsCollector, ctx: &RunContext) -> Result<(), CliError> {
    let path = run_metrics_json(ctx);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CliError::io("reading", &path, e)),
    };
    collector
        .import_json(&text)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// The run `run` (validated), or the latest run under `root` that has metrics.
fn pick_run(root: &Path, run: Option<&str>) -> Result<RunContext, CliError> {
    let ctx = match run {
        Some(id) => RunContext::with_run_id(root, &batch_engine::resolve_run_id(root, id)?)?,
        None => {
            let latest = list_runs(root)?
                .into_iter()
                .rev()
                .map(|id| RunContext::with_run_id(root, &id))
                .filter_map(Result::ok)
                .find(|ctx| run_metrics_json(ctx).exists());
            latest.ok_or_else(|| {
                CliError::Usage(format!(
                    "no run with metrics under {}; run a batch first or pass --artifacts-dir",
                    root.display()
                ))
            })?
        }
    };
    if !run_metrics_json(&ctx).exists() {
        return Err(CliError::Usage(format!(
            "run {} exists but has no metrics ({} is missing); runs with metrics are written by `bykilt batch run`",
            ctx.run_id(),
            run_metrics_json(&ctx).display()
        )));
    }
    Ok(ctx)
}

/// The run's stored metrics replayed into a private collector.
pub(crate) fn load(root: &Path, run: Option<&str>) -> Result<(RunContext, MetricsCollector), CliError> {
    let ctx = pick_run(root, run)?;
    let collector = MetricsCollector::new(long_retention_config());
    import_run_metrics(&collector, &ctx)?;
    Ok((ctx, collector))
}

/// The run's metrics from the metrics database when it has the run, else
/// from the run's metrics.json; a note on stderr says which was read.
pub(crate) fn load_preferring_db(
    root: &Path,
    run: Option<&str>,
    db: &ReadDbArgs,
    out: &mut Output,
) -> Result<(RunContext, MetricsCollector), CliError> {
    if let Some((ctx, collector, path)) = crate::commands::history::load_stored_run(root, run, db)? {
        out.note(&format!(
            "reading run {} from the metrics database {}",
            ctx.run_id(),
            path.display()
        ));
        return Ok((ctx, collector));
    }
    let (ctx, collector) = load(root, run)?;
    out.note(&format!(
        "reading run {} from {} (the metrics database does not have it)",
        ctx.run_id(),
        run_metrics_json(&ctx).display()
    ));
    Ok((ctx, collector))
}

/// The error of `metrics summary NAME` answered from the database when no
/// run there has a metric `NAME` at all (rather than none of its samples
/// matching the filters): it names the metric and the closest names the
/// database has. `None` when the metric exists or the database cannot be
/// read (the caller's own error stands).
pub(crate) fn unknown_metric_in_db(name: &str, db: &ReadDbArgs, root: &Path) -> Option<CliError> {
    let path = crate::commands::store::read_path(db, root);
    if !path.exists() {
        return None;
    }
    let reader = metrics_store::StoreReader::open(&path).ok()?;
    let names: Vec<String> = reader.series().ok()?.into_iter().map(|s| s.name).collect();
    if names.iter().any(|n| n == name) {
        return None;
    }
    Some(CliError::Usage(format!(
        "{}: no metric {name:?} in the database (no run recorded it){}",
        path.display(),
        close_names_hint(name, &names)
    )))
}

/// `; did you mean: a, b` with the known names nearest to `name` (edit
/// distance within a quarter of its length, or one containing the other),
/// or the empty string when none is near.
pub(crate) fn close_names_hint(name: &str, names: &[String]) -> String {
    let reach = (name.len() / 4).max(2);
    let mut near: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (metrics_core::edit_distance(n, name), n))
        .filter(|(d, n)| *d <= reach || n.contains(name) || name.contains(n.as_str()))
        .collect();
    near.sort();
    let near: Vec<&str> = near.iter().take(3).map(|(_, n)| n.as_str()).collect();
    if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean: {}", near.join(", "))
    }
}

/// `bykilt metrics summary` from the run's metrics.json; `db_lacking_run` is
/// the database that was asked first and lacks the run (a note names it).
pub(crate) fn summary(
    name: &str,
    tags: &[(String, String)],
    since: Option<Duration>,
    run: Option<&str>,
    db_lacking_run: Option<&Path>,
    root: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    let (ctx, collector) = load(root, run)?;
    if let Some(db) = db_lacking_run {
        out.note(&format!(
            "reading run {} from {} (the metrics database {} does not have it)",
            ctx.run_id(),
            run_metrics_json(&ctx).display(),
            db.display()
        ));
    }
    let Some(series) = collector.get_metric_series(name) else {
        let names: Vec<String> = collector.list_series().into_iter().map(|s| s.name).collect();
        return Err(CliError::Usage(format!(
            "run {} has no metric {name:?}{}; it has: {}",
            ctx.run_id(),
            close_names_hint(name, &names),
            names.join(", ")
        )));
    };
    let mut filter = TagFilter::new();
    for (k, v) in tags {
        filter = filter.with(k.as_str(), v.as_str());
    }
    // A window reaching before the earliest representable date covers everything.
    let window = since.and_then(|d| {
        let d = time::Duration::try_from(d).ok()?;
        collector.now().checked_sub(d)
    });
    let summary = series.summary(&SummaryQuery {
        since: window,
        tags: filter,
    });
    match summary {
        Some(s) => {
            out.text(&metric_summary_table(name, ctx.run_id(), &s));
            out.json(&serde_json::json!({ "metric": name, "run_id": ctx.run_id(), "summary": s }));
            Ok(EXIT_ALL_COMPLETED)
        }
        None => Err(CliError::Usage(format!(
            "metric {name:?} of run {} {}",
            ctx.run_id(),
            crate::output::no_samples_matching(tags, since)
        ))),
    }
}

/// `bykilt metrics export`.
pub(crate) fn export(
    format: ExportFormat,
    run: Option<&str>,
    output: Option<&Path>,
    db: &ReadDbArgs,
    root: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    let (ctx, collector) = load_preferring_db(root, run, db, out)?;
    match format {
        ExportFormat::Json => match output {
            Some(path) => {
                let written = collector.export_json_to(path)?;
                out.note(&format!("wrote {}", written.display()));
            }
            None => {
                let mut json = collector.export_to_json();
                json.push('\n');
                out.raw(json.as_bytes());
            }
        },
        ExportFormat::Prometheus | ExportFormat::Openmetrics => {
            let text_format = if format == ExportFormat::Prometheus {
                TextFormat::Prometheus
            } else {
                TextFormat::OpenMetrics
            };
            let exposition = collector.exposition(text_format);
            for c in &exposition.conflicts {
                out.warn(&format!("{:?} left out of {}: {}", c.series, c.family, c.reason));
            }
            match output {
                Some(path) => {
                    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                        std::fs::create_dir_all(parent).map_err(|e| CliError::io("creating directory", parent, e))?;
                    }
                    batch_engine::write_atomic(path, exposition.text.as_bytes())
                        .map_err(|e| CliError::io("writing", path, e))?;
                    out.note(&format!("wrote {}", path.display()));
                }
                None => out.raw(exposition.text.as_bytes()),
            }
        }
        ExportFormat::Csv => {
            let dir = output.map_or_else(|| ctx.run_dir().join("metrics").join("csv"), Path::to_path_buf);
            let files = collector.export_to_csv(&dir)?;
            let mut listing = String::new();
            for f in &files {
                listing.push_str(&format!("{}\n", f.display()));
            }
            out.text(&listing);
            out.json(&files);
        }
    }
    Ok(EXIT_ALL_COMPLETED)
}

#[cfg(test)]
mod tests {
    use super::close_names_hint;

    #[test]
    fn close_names_are_near_ones_nearest_first() {
        let names: Vec<String> = [
            "job_duration_seconds",
            "jobs_total",
            "batch_duration_seconds",
            "queue_depth",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            close_names_hint("job_duraton_seconds", &names),
            "; did you mean: job_duration_seconds"
        );
        assert_eq!(close_names_hint("jobs", &names), "; did you mean: jobs_total");
        assert_eq!(close_names_hint("nosuch", &names), "");
    }
}
