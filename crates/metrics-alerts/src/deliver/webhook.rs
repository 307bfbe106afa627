//! A JSON webhook receiving what Alertmanager sends its receivers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{DeliveryError, Notifier, Round, agent, common, generator_url, post_json, rfc3339};
use crate::state::{AlertStatus, StateChange};

/// Posts one notification per rule and status for every evaluation that
/// fired or resolved alerts, in Alertmanager's webhook payload shape
/// (`version` 4), retrying failures with exponential backoff.
#[derive(Debug)]
pub struct WebhookClient {
    url: String,
    receiver: String,
    attempts: u32,
    first_delay: Duration,
    agent: ureq::Agent,
}

impl WebhookClient {
    /// A client of the webhook at `url`: 5 attempts, backoff from 500 ms.
    pub fn new(url: &str) -> Self {
        WebhookClient {
            url: url.to_owned(),
            receiver: "bykilt".to_owned(),
            attempts: 5,
            first_delay: Duration::from_millis(500),
            agent: agent(Duration::from_secs(5)),
        }
    }

    /// `attempts` in all, waiting `first_delay`, then twice as long each time.
    pub fn with_retries(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.first_delay = first_delay;
        self
    }

    /// The notifications `round` calls for, one JSON body each.
    pub fn payloads(&self, round: &Round<'_>) -> Vec<String> {
        let mut groups: BTreeMap<(String, &str), Vec<&StateChange>> = BTreeMap::new();
        for c in round.changes {
            let status = match c.alert.status {
                AlertStatus::Firing => "firing",
                AlertStatus::Resolved => "resolved",
                _ => continue,
            };
            groups.entry((c.alert.rule.clone(), status)).or_default().push(c);
        }
        groups
            .into_iter()
            .map(|((rule, status), changes)| {
                let alerts: Vec<serde_json::Value> = changes
                    .iter()
                    .map(|c| {
                        let a = &c.alert;
                        let ends = match a.status {
                            AlertStatus::Resolved => a.resolved_at.map_or_else(String::new, rfc3339),
                            _ => "0001-01-01T00:00:00Z".to_owned(),
                        };
                        json!({
                            "status": status,
                            "labels": a.labels,
                            "annotations": a.annotations,
                            "startsAt": rfc3339(a.fired_at.or(a.active_at).unwrap_or(a.since)),
                            "endsAt": ends,
                            "generatorURL": generator_url(round.external_url, &a.metric),
                            "fingerprint": format!("{:016x}", fnv1a(a.key().as_bytes())),
                        })
                    })
                    .collect();
                json!({
                    "version": "4",
                    "groupKey": format!("{{}}:{{alertname={:?}}}", rule),
                    "truncatedAlerts": 0,
                    "status": status,
                    "receiver": self.receiver,
                    "groupLabels": { "alertname": rule },
                    "commonLabels": common(changes.iter().map(|c| &c.alert.labels)),
                    "commonAnnotations": common(changes.iter().map(|c| &c.alert.annotations)),
                    "externalURL": round.external_url.unwrap_or(""),
                    "alerts": alerts,
                })
                .to_string()
            })
            .collect()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Notifier for WebhookClient {
    fn deliver(&mut self, round: &Round<'_>) -> Result<(), DeliveryError> {
        let mut result = Ok(());
        for body in self.payloads(round) {
            if let Err(e) = post_json(&self.agent, &self.url, &body, self.attempts, self.first_delay) {
                result = Err(e);
            }
        }
        result
    }
}
