//! The in-process evaluator: every `eval_interval`, every rule against the
//! live collector (and, for windows, a [`SampleHistory`] where one is
//! attached); states kept in an [`AlertStateStore`], changes handed to
//! notifiers and logged.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_core::MetricsCollector;
use metrics_core::export::prometheus::sanitize_label_name;
use time::OffsetDateTime;

use crate::deliver::{Notifier, Round, rfc3339};
use crate::eval::evaluate_with;
use crate::history::SampleHistory;
use crate::rules::{Rule, RuleSet};
use crate::state::{Alert, AlertStatus, StateChange, step};
use crate::store::{AlertStateStore, StoreError};
use crate::template::{format_value, render};

/// How long a resolved alert is kept (and re-sent to Alertmanager) after it
/// resolved, as Prometheus does.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// Whether `alert` is one of `rule`'s: the burn-rate rules of one SLO
/// objective share a name and differ in their labels.
fn belongs(alert: &Alert, rule: &Rule) -> bool {
    alert.rule == rule.name && rule.labels.iter().all(|(k, v)| alert.labels.get(k) == Some(v))
}

/// What one evaluation did.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    /// Status changes, in rule order.
    pub changes: Vec<StateChange>,
    /// Delivery and store failures (also logged).
    pub errors: Vec<String>,
}

/// Evaluates a [`RuleSet`] against a collector.
pub struct Evaluator {
    rules: RuleSet,
    /// The `[[rule]]` alerts, then the burn-rate alerts of every `[[slo]]`.
    evaluated: Vec<Rule>,
    collector: Arc<MetricsCollector>,
    history: Option<Box<dyn SampleHistory>>,
    store: Box<dyn AlertStateStore>,
    notifiers: Vec<Box<dyn Notifier>>,
    log: Option<Box<dyn Write + Send>>,
    alerts: BTreeMap<String, Alert>,
    warned: BTreeSet<(String, String)>,
    published: CurrentAlerts,
}

/// The alerts an evaluator held after its latest evaluation, readable from
/// other threads while it runs (a dashboard shows them).
#[derive(Debug, Clone, Default)]
pub struct CurrentAlerts(Arc<Mutex<Vec<Alert>>>);

impl CurrentAlerts {
    /// Every alert held: pending, firing, or recently resolved.
    pub fn get(&self) -> Vec<Alert> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set(&self, alerts: Vec<Alert>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = alerts;
    }
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("rules", &self.rules.file)
            .field("alerts", &self.alerts.len())
            .finish()
    }
}

impl Evaluator {
    /// An evaluator resuming the states `store` holds: an alert that was
    /// firing stays firing (it is not fired again).
    ///
    /// # Errors
    /// When the stored states cannot be read.
    pub fn new(
        rules: RuleSet,
        collector: Arc<MetricsCollector>,
        mut store: Box<dyn AlertStateStore>,
    ) -> Result<Self, StoreError> {
        let mut evaluated = rules.rules.clone();
        evaluated.extend(rules.slos.iter().flat_map(crate::slo::burn_rate_rules));
        let known: BTreeSet<&str> = evaluated.iter().map(|r| r.name.as_str()).collect();
        let alerts: BTreeMap<String, Alert> = store
            .load()?
            .into_iter()
            .filter(|a| known.contains(a.rule.as_str()))
            .map(|a| (a.key(), a))
            .collect();
        let published = CurrentAlerts::default();
        published.set(alerts.values().cloned().collect());
        Ok(Evaluator {
            rules,
            evaluated,
            collector,
            history: None,
            store,
            notifiers: Vec::new(),
            log: None,
            alerts,
            warned: BTreeSet::new(),
            published,
        })
    }

    /// Windows (`rate`, `increase`, `pNN`, `absent(..[w])`, SLO burn rates)
    /// also read `history` — a durable store's samples
    /// ([`StoreHistory`](crate::StoreHistory)) — before the oldest sample
    /// the collector still holds: windows longer than the collector's
    /// retention, and windows across a restart, see every sample once.
    /// A metric only the history has is evaluated on it (no missing-metric
    /// warning). A history that cannot be read is reported in
    /// [`EvalReport::errors`] and the log; the window then reads the
    /// collector alone.
    pub fn with_history(mut self, history: impl SampleHistory + 'static) -> Self {
        self.history = Some(Box::new(history));
        self
    }

    /// Adds a notifier told about every evaluation.
    pub fn with_notifier(mut self, n: impl Notifier + 'static) -> Self {
        self.notifiers.push(Box::new(n));
        self
    }

    /// Writes one line per status change, delivery failure and warning to `log`.
    pub fn with_log(mut self, log: impl Write + Send + 'static) -> Self {
        self.log = Some(Box::new(log));
        self
    }

    /// The rules evaluated.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Every alert held: pending, firing, or resolved in the last
    /// [`RESOLVED_RETENTION`].
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.values().cloned().collect()
    }

    /// A handle on the alerts held after each evaluation, for readers on
    /// other threads (it stays valid once the evaluator is spawned).
    pub fn current(&self) -> CurrentAlerts {
        self.published.clone()
    }

    fn log_line(&mut self, line: &str) {
        if let Some(log) = &mut self.log {
            // A log that cannot be written must not stop the evaluation.
            let _ = writeln!(log, "{line}");
            let _ = log.flush();
        }
    }

    fn labels_of(rule: &Rule, group: &[(String, String)]) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = group
            .iter()
            .map(|(k, v)| (sanitize_label_name(k, false), v.clone()))
            .collect();
        labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels.insert("alertname".to_owned(), rule.name.clone());
        labels
    }

    /// Evaluates every rule at the collector's current time.
    pub fn evaluate(&mut self) -> EvalReport {
        let now = self.collector.now();
        self.evaluate_at(now)
    }

    /// Evaluates every rule as of `now`.
    pub fn evaluate_at(&mut self, now: OffsetDateTime) -> EvalReport {
        let mut report = EvalReport::default();
        let mut warnings = Vec::new();
        for rule in &self.evaluated {
            let history = self.history.as_deref_mut().map(|h| h as &mut dyn SampleHistory);
            let result = evaluate_with(&self.collector, history, &rule.expr, now);
            for e in result.errors {
                if !report.errors.contains(&e) {
                    report.errors.push(e);
                }
            }
            for m in result.missing {
                if self.warned.insert((rule.name.clone(), m.clone())) {
                    warnings.push(format!(
                        "{} alert warning: rule {} reads metric `{m}`, which the collector does not have (yet){}",
                        rfc3339(now),
                        rule.name,
                        if self.history.is_some() {
                            " (nor, for a window, the sample history)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            // The series' own name, which the dashboard's series page knows
            // (`job_errors` for `job_errors_total`), else the name as written.
            let metric = rule.expr.selectors().first().map_or_else(String::new, |s| {
                crate::eval::resolve(&self.collector, &s.metric)
                    .map_or_else(|| s.metric.clone(), |series| series.name().to_owned())
            });
            let mut seen = BTreeSet::new();
            for (group, value) in &result.active {
                let labels = Self::labels_of(rule, group);
                let probe = Alert {
                    rule: rule.name.clone(),
                    labels,
                    annotations: BTreeMap::new(),
                    value: *value,
                    status: AlertStatus::Inactive,
                    since: now,
                    active_at: None,
                    fired_at: None,
                    resolved_at: None,
                    metric: metric.clone(),
                };
                let key = probe.key();
                seen.insert(key.clone());
                let alert = self.alerts.entry(key).or_insert(probe);
                let from = step(alert, Some(*value), rule.for_duration, now);
                alert.annotations = rule
                    .annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), render(t, *value, &alert.labels)))
                    .collect();
                if let Some(from) = from {
                    report.changes.push(StateChange {
                        alert: alert.clone(),
                        from,
                    });
                }
            }
            for (key, alert) in self.alerts.iter_mut().filter(|(_, a)| belongs(a, rule)) {
                if seen.contains(key) {
                    continue;
                }
                if let Some(from) = step(alert, None, rule.for_duration, now) {
                    report.changes.push(StateChange {
                        alert: alert.clone(),
                        from,
                    });
                }
            }
        }
        let retention = time::Duration::try_from(RESOLVED_RETENTION).unwrap_or(time::Duration::MINUTE);
        let before = self.alerts.len();
        self.alerts.retain(|_, a| match a.status {
            AlertStatus::Inactive => false,
            AlertStatus::Resolved => now - a.since < retention,
            _ => true,
        });
        let pruned = self.alerts.len() != before;
        for w in warnings {
            self.log_line(&w);
        }
        for c in &report.changes {
            let line = format!(
                "{} alert {} {} -> {} value={}",
                rfc3339(now),
                c.alert.key(),
                c.from.as_str(),
                c.alert.status.as_str(),
                format_value(c.alert.value)
            );
            self.log_line(&line);
        }
        // Saved while alerts are held too, so the stored values and annotations
        // (what `bykilt alerts status` shows) are the current ones.
        if !report.changes.is_empty() || pruned || !self.alerts.is_empty() {
            let alerts = self.alerts();
            if let Err(e) = self.store.save(&alerts) {
                report.errors.push(e.to_string());
            }
        }
        let alerts = self.alerts();
        self.published.set(alerts.clone());
        let round = Round {
            now,
            changes: &report.changes,
            alerts: &alerts,
            eval_interval: self.rules.eval_interval,
            external_url: self.rules.external_url.as_deref(),
        };
        for n in &mut self.notifiers {
            if let Err(e) = n.deliver(&round) {
                report.errors.push(e.to_string());
            }
        }
        for e in report.errors.clone() {
            self.log_line(&format!("{} alert error: {e}", rfc3339(now)));
        }
        report
    }

    /// Runs [`evaluate`](Self::evaluate) every `eval_interval` on a thread
    /// of its own until [`RunningEvaluator::stop`].
    pub fn spawn(self) -> RunningEvaluator {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut ev = self;
            let interval = ev.rules.eval_interval;
            let (lock, cvar) = &*signal;
            loop {
                ev.evaluate();
                let Ok(guard) = lock.lock() else { break };
                let Ok((guard, _)) = cvar.wait_timeout_while(guard, interval, |stopped| !*stopped) else {
                    break;
                };
                if *guard {
                    break;
                }
            }
            ev
        });
        RunningEvaluator {
            stop,
            thread: Some(thread),
        }
    }
}

/// An evaluator running on its own thread.
#[derive(Debug)]
pub struct RunningEvaluator {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<Evaluator>>,
}

impl RunningEvaluator {
    /// Stops it after one last evaluation (so what the run recorded last is
    /// judged) and hands the evaluator back; `None` if its thread panicked.
    pub fn stop(mut self) -> Option<Evaluator> {
        self.signal();
        let mut ev = self.thread.take()?.join().ok()?;
        ev.evaluate();
        Some(ev)
    }

    fn signal(&self) {
        let (lock, cvar) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        cvar.notify_all();
    }
}

impl Drop for RunningEvaluator {
    fn drop(&mut self) {
        self.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
