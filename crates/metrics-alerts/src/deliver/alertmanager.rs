//! Alertmanager API v2: `POST /api/v2/alerts`.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::{DeliveryError, Notifier, Round, agent, generator_url, post_json, rfc3339};
use crate::state::{Alert, AlertStatus, StateChange};

/// Sends firing and resolved alerts to an Alertmanager, as Prometheus does:
/// on every change, and every `resend` while firing, with `endsAt` four
/// resend periods ahead (so Alertmanager resolves them itself if we stop);
/// resolved alerts go out with `endsAt` set to when they resolved.
#[derive(Debug)]
pub struct AlertmanagerClient {
    url: String,
    resend: Duration,
    last_sent: Option<OffsetDateTime>,
    agent: ureq::Agent,
    attempts: u32,
}

impl AlertmanagerClient {
    /// A client of the Alertmanager at `base_url` (`http://host:9093`).
    pub fn new(base_url: &str) -> Self {
        AlertmanagerClient {
            url: format!("{}/api/v2/alerts", base_url.trim_end_matches('/')),
            resend: Duration::from_secs(60),
            last_sent: None,
            agent: agent(Duration::from_secs(5)),
            attempts: 3,
        }
    }

    /// Re-sends firing alerts every `resend` (default 1 minute).
    pub fn with_resend(mut self, resend: Duration) -> Self {
        self.resend = resend;
        self
    }

    /// The endpoint alerts are posted to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request body for `alerts` at `now`.
    pub fn payload(&self, round: &Round<'_>) -> String {
        let hold = 4 * self.resend.max(round.eval_interval);
        let hold = time::Duration::try_from(hold).unwrap_or(time::Duration::MINUTE);
        let body: Vec<serde_json::Value> = round
            .alerts
            .iter()
            .filter_map(|a| {
                let ends = match a.status {
                    AlertStatus::Firing => round.now + hold,
                    AlertStatus::Resolved => a.resolved_at.unwrap_or(round.now),
                    _ => return None,
                };
                Some(alert_json(a, ends, round.external_url))
            })
            .collect();
        serde_json::Value::Array(body).to_string()
    }
}

fn alert_json(a: &Alert, ends: OffsetDateTime, external_url: Option<&str>) -> serde_json::Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(a.fired_at.or(a.active_at).unwrap_or(a.since)),
        "endsAt": rfc3339(ends),
        "generatorURL": generator_url(external_url, &a.metric),
    })
}

fn notable(c: &StateChange) -> bool {
    matches!(c.alert.status, AlertStatus::Firing | AlertStatus::Resolved) || c.from == AlertStatus::Firing
}

impl Notifier for AlertmanagerClient {
    fn deliver(&mut self, round: &Round<'_>) -> Result<(), DeliveryError> {
        let any = round
            .alerts
            .iter()
            .any(|a| matches!(a.status, AlertStatus::Firing | AlertStatus::Resolved));
        let due = self.last_sent.is_none_or(|t| round.now - t >= self.resend);
        if !any || !(due || round.changes.iter().any(notable)) {
            return Ok(());
        }
        post_json(
            &self.agent,
            &self.url,
            &self.payload(round),
            self.attempts,
            Duration::from_millis(200),
        )?;
        self.last_sent = Some(round.now);
        Ok(())
    }
}
