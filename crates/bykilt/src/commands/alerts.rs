//! `bykilt alerts check|status|export-rules`, and the evaluator that
//! `--alerts` runs beside a batch or `bykilt serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use batch_engine::RunContext;
use batch_engine::list_runs;
use metrics_alerts::export::{KindHints, export_rules};
use metrics_alerts::{
    Alert, AlertStateStore, AlertmanagerClient, CurrentAlerts, Evaluator, JsonFileStore, RuleSet, RulesError,
    RunningEvaluator, StoreHistory, WebhookClient, kind_of,
};
use metrics_api::dashboard::{AlertBoard, AlertView};
use metrics_core::MetricsCollector;
use metrics_store::StateHandle;

use crate::alerts_cli::{AlertArgs, AlertsCommand};
use crate::commands::alert_store::{DbAlertStore, read_states};
use crate::commands::metrics::{import_run_metrics, long_retention_config, run_metrics_json};
use crate::commands::store::default_db;
use crate::error::CliError;
use crate::output::Output;
use crate::{EXIT_ALL_COMPLETED, EXIT_BAD_INPUT};

/// `ARTIFACTS/alerts/state.json`: where evaluators keep alert states when
/// the metrics database is off.
pub(crate) fn state_file(root: &Path) -> PathBuf {
    root.join("alerts").join("state.json")
}

/// Where an evaluator keeps its alert states.
#[derive(Debug)]
pub(crate) enum AlertStates {
    /// The metrics database's state table.
    Db(DbAlertStore, PathBuf),
    /// A JSON file (`--no-db`, or no usable database).
    File(PathBuf),
}

impl AlertStates {
    /// A batch's: through its recording when the run is stored, else the
    /// JSON file.
    pub(crate) fn of_batch(state: Option<(StateHandle, PathBuf)>, root: &Path) -> Self {
        match state {
            Some((handle, path)) => AlertStates::Db(DbAlertStore::held(handle, path.clone()), path),
            None => AlertStates::File(state_file(root)),
        }
    }

    /// `serve`'s: the default database when there is one (opened for each
    /// save only, so batches can still write it), else the JSON file.
    pub(crate) fn of_serve(root: &Path) -> Self {
        let db = default_db(root);
        if db.exists() {
            AlertStates::Db(DbAlertStore::at(db.clone()), db)
        } else {
            AlertStates::File(state_file(root))
        }
    }

    fn describe(&self) -> String {
        match self {
            AlertStates::Db(_, path) => format!("states in {}, whose samples windows also read", path.display()),
            AlertStates::File(path) => format!("states in {}", path.display()),
        }
    }

    /// The metrics database whose samples the evaluator's windows also
    /// read (the one its states are kept in).
    fn history(&self) -> Option<StoreHistory> {
        match self {
            AlertStates::Db(_, path) => Some(StoreHistory::new(path.clone())),
            AlertStates::File(_) => None,
        }
    }

    fn into_store(self) -> Box<dyn AlertStateStore> {
        match self {
            AlertStates::Db(store, _) => Box::new(store),
            AlertStates::File(path) => Box::new(JsonFileStore::new(path)),
        }
    }
}

fn load_rules(file: &Path) -> Result<RuleSet, CliError> {
    RuleSet::load(file).map_err(|e: RulesError| {
        CliError::Usage(
            e.0.iter()
                .map(metrics_alerts::Diagnostic::located)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}

/// Checks `--alerts FILE` before a batch creates anything on disk.
pub(crate) fn check_alert_args(args: &AlertArgs) -> Result<(), CliError> {
    for (flag, url) in [("--alertmanager", &args.alertmanager), ("--webhook", &args.webhook)] {
        if let Some(url) = url {
            metrics_alerts::deliver::check_url(url).map_err(|e| CliError::Usage(format!("{flag} {e}")))?;
        }
    }
    args.alerts.as_deref().map(load_rules).transpose().map(|_| ())
}

/// The collectors of the runs under `root` that have metrics: `run` only,
/// or every run.
fn run_collectors(root: &Path, run: Option<&str>) -> Result<Vec<MetricsCollector>, CliError> {
    let ids = match run {
        Some(id) => vec![id.to_owned()],
        None => list_runs(root).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for id in ids {
        let ctx = RunContext::with_run_id(root, &id)?;
        if run_metrics_json(&ctx).exists() {
            let c = MetricsCollector::new(long_retention_config());
            import_run_metrics(&c, &ctx)?;
            out.push(c);
        } else if run.is_some() {
            return Err(CliError::Usage(format!(
                "run {id} has no metrics under {}",
                root.display()
            )));
        }
    }
    Ok(out)
}

/// Dispatches `bykilt alerts ...`.
pub(crate) fn run(cmd: AlertsCommand, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    match cmd {
        AlertsCommand::Check { file } => check(&file, root, out),
        AlertsCommand::Status { state, db } => status(state, db, root, out),
        AlertsCommand::ExportRules { file, run } => {
            let rules = load_rules(&file)?;
            let mut hints = KindHints::default();
            let collectors = run_collectors(root, run.as_deref())?;
            // The latest run names the kinds; a `[metric_types]` entry in the file is the fallback.
            if let Some(c) = collectors.last() {
                hints.0 = c
                    .list_series()
                    .into_iter()
                    .map(|s| (s.name, kind_of(s.metric_type)))
                    .collect();
                warn_latency_bounds(&rules, c, out);
            }
            out.raw(export_rules(&rules, &hints).as_bytes());
            Ok(EXIT_ALL_COMPLETED)
        }
    }
}

/// A latency objective reads the bucket whose bound is its latency: warn
/// when the run's histogram has no such bound (the rule would stay silent).
fn warn_latency_bounds(rules: &RuleSet, collector: &MetricsCollector, out: &mut Output) {
    for slo in &rules.slos {
        let Some(l) = &slo.latency else { continue };
        let wanted = l.threshold.as_secs_f64();
        let stem = l
            .histogram
            .metric
            .trim_end_matches("_bucket")
            .trim_end_matches("_count");
        let series = collector
            .get_metric_series(stem)
            .or_else(|| collector.get_metric_series(&l.histogram.metric));
        if let Some(series) = series
            && !series.buckets().iter().any(|b| (b - wanted).abs() < 1e-12)
        {
            out.warn(&format!(
                "{}:{}: slo {}: latency {wanted}s is not a bucket bound of {} ({:?}): its burn-rate rules will find no bucket",
                rules.file,
                slo.line,
                slo.name,
                series.name(),
                series.buckets()
            ));
        }
    }
}

fn check(file: &Path, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let rules = match RuleSet::load(file) {
        Ok(r) => r,
        Err(e) => {
            for d in &e.0 {
                out.error(&d.located());
            }
            out.json(&serde_json::json!({ "file": file, "ok": false, "errors": e.0, "warnings": [] }));
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let collectors = run_collectors(root, None)?;
    let warnings = if collectors.is_empty() {
        out.note(&format!(
            "no run with metrics under {}: metric names were not checked",
            root.display()
        ));
        Vec::new()
    } else {
        let names: Vec<String> = collectors
            .iter()
            .flat_map(|c| c.list_series())
            .map(|s| s.name)
            .collect();
        rules.unknown_metrics(&names)
    };
    for w in &warnings {
        out.warn(&w.located());
    }
    out.text(&format!(
        "{}: {} rule(s), {} slo(s), {} warning(s)\n",
        file.display(),
        rules.rules.len(),
        rules.slos.len(),
        warnings.len()
    ));
    out.json(&serde_json::json!({
        "file": file,
        "ok": true,
        "rules": rules.rules.len(),
        "slos": rules.slos.len(),
        "errors": [],
        "warnings": warnings,
    }));
    Ok(EXIT_ALL_COMPLETED)
}

/// The states `alerts status` shows and where they came from: `--state
/// FILE`, `--db PATH`, or by default the artifacts' database when it holds
/// alert states, else `ARTIFACTS/alerts/state.json` (runs with `--no-db`).
fn load_status(
    state: Option<PathBuf>,
    db: Option<PathBuf>,
    root: &Path,
) -> Result<(Vec<Alert>, PathBuf), metrics_alerts::StoreError> {
    if let Some(file) = state {
        return Ok((JsonFileStore::new(&file).load()?, file));
    }
    if let Some(db) = db {
        if !db.exists() {
            return Err(metrics_alerts::StoreError::Backend(format!(
                "no metrics database at {}",
                db.display()
            )));
        }
        return Ok((read_states(&db)?, db));
    }
    let db = default_db(root);
    if crate::commands::alert_store::has_states(&db)? {
        return Ok((read_states(&db)?, db));
    }
    let file = state_file(root);
    Ok((JsonFileStore::new(&file).load()?, file))
}

fn status(state: Option<PathBuf>, db: Option<PathBuf>, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let (alerts, from) = load_status(state, db, root).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut text = String::new();
    if alerts.is_empty() {
        text.push_str(&format!("no alerts held in {}\n", from.display()));
    }
    for a in &alerts {
        let t = |v: Option<time::OffsetDateTime>| {
            v.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_else(|| "-".into())
        };
        text.push_str(&format!(
            "{:<9} {}  value={}  since={}  active_at={}  fired_at={}  resolved_at={}\n",
            a.status.as_str(),
            a.key(),
            a.value,
            t(Some(a.since)),
            t(a.active_at),
            t(a.fired_at),
            t(a.resolved_at)
        ));
    }
    out.text(&text);
    out.json(&alerts);
    Ok(EXIT_ALL_COMPLETED)
}

/// The evaluator `--alerts` runs while a command does.
pub(crate) struct Alerting {
    running: Option<RunningEvaluator>,
    current: Option<CurrentAlerts>,
    rules: Option<RuleSet>,
    collector: Arc<MetricsCollector>,
}

impl Alerting {
    /// Loads the rules and starts evaluating against `collector`; nothing
    /// without `--alerts`. A bad rules file stops the command before it starts.
    pub(crate) fn start(
        args: &AlertArgs,
        collector: Arc<MetricsCollector>,
        states: AlertStates,
        out: &mut Output,
    ) -> Result<Alerting, CliError> {
        let Some(file) = &args.alerts else {
            return Ok(Alerting {
                running: None,
                current: None,
                rules: None,
                collector,
            });
        };
        check_alert_args(args)?;
        let rules = load_rules(file)?;
        let where_ = states.describe();
        let history = states.history();
        let mut ev = Evaluator::new(rules.clone(), Arc::clone(&collector), states.into_store())
            .map_err(|e| CliError::Usage(e.to_string()))?
            .with_log(std::io::stderr());
        if let Some(history) = history {
            ev = ev.with_history(history);
        }
        if let Some(url) = &args.alertmanager {
            ev = ev.with_notifier(AlertmanagerClient::new(url));
        }
        if let Some(url) = &args.webhook {
            ev = ev.with_notifier(WebhookClient::new(url));
        }
        out.note(&format!(
            "evaluating {} rule(s) from {} every {}; {where_}",
            rules.rules.len(),
            file.display(),
            metrics_alerts::format_duration(rules.eval_interval)
        ));
        Ok(Alerting {
            current: Some(ev.current()),
            running: Some(ev.spawn()),
            rules: Some(rules),
            collector,
        })
    }

    /// What the dashboard shows of the running evaluator's alerts; `None`
    /// without `--alerts`.
    pub(crate) fn board(&self) -> Option<Arc<dyn AlertBoard>> {
        self.current
            .clone()
            .map(|c| Arc::new(EvaluatorBoard(c)) as Arc<dyn AlertBoard>)
    }

    /// Evaluates once more, stops, and warns about rules whose metric the
    /// run never produced.
    pub(crate) fn finish(mut self, out: &mut Output) {
        let Some(running) = self.running.take() else { return };
        let evaluator = running.stop();
        if let Some(rules) = &self.rules {
            let names: Vec<String> = self.collector.list_series().into_iter().map(|s| s.name).collect();
            for w in rules.unknown_metrics(&names) {
                out.warn(&w.located());
            }
        }
        if let Some(ev) = evaluator {
            let firing = ev
                .alerts()
                .iter()
                .filter(|a| a.status == metrics_alerts::AlertStatus::Firing)
                .count();
            if firing > 0 {
                out.note(&format!("{firing} alert(s) firing; `bykilt alerts status` lists them"));
            }
        }
    }
}

/// The dashboard's view of an evaluator's alerts, read on each request.
#[derive(Debug)]
struct EvaluatorBoard(CurrentAlerts);

impl AlertBoard for EvaluatorBoard {
    fn alerts(&self) -> Vec<AlertView> {
        self.0
            .get()
            .into_iter()
            .map(|a| AlertView {
                state: a.status.as_str().to_owned(),
                since: a
                    .since
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                name: a.rule,
                labels: a.labels,
                value: a.value,
            })
            .collect()
    }
}
