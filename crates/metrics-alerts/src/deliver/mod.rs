//! Sending alerts out: Alertmanager's API v2 and JSON webhooks.

mod alertmanager;
mod webhook;

pub use alertmanager::AlertmanagerClient;
pub use webhook::WebhookClient;

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::state::{Alert, StateChange};

/// What one evaluation hands every notifier.
#[derive(Debug, Clone, Copy)]
pub struct Round<'a> {
    /// The evaluation time.
    pub now: OffsetDateTime,
    /// The status changes of this evaluation.
    pub changes: &'a [StateChange],
    /// Every alert held (pending, firing, recently resolved).
    pub alerts: &'a [Alert],
    /// How often evaluations run.
    pub eval_interval: Duration,
    /// Base URL of the dashboard, for `generatorURL`.
    pub external_url: Option<&'a str>,
}

/// A delivery that failed for good (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivering alerts to {url} failed after {attempts} attempt(s): {last}")]
pub struct DeliveryError {
    /// Where to.
    pub url: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure.
    pub last: String,
}

/// Something that is told about every evaluation.
pub trait Notifier: Send {
    /// Delivers what `round` calls for. Must not block for long: the
    /// evaluator waits for it.
    ///
    /// # Errors
    /// [`DeliveryError`] when the receiver could not be reached or refused.
    fn deliver(&mut self, round: &Round<'_>) -> Result<(), DeliveryError>;
}

/// Checks a receiver URL before anything is sent: `http://host[:port][/path]`.
/// This build has no TLS, so `https://` is refused here rather than at the
/// first alert.
///
/// ```
/// use metrics_alerts::deliver::check_url;
/// assert!(check_url("http://127.0.0.1:9093").is_ok());
/// assert!(check_url("https://am.example").unwrap_err().contains("https://am.example"));
/// assert!(check_url("127.0.0.1:9093").is_err());
/// ```
///
/// # Errors
/// A message naming the URL and what is wrong with it.
pub fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            format!("{url}: only http:// receivers are supported (this build has no TLS)")
        } else {
            format!("{url}: not an http:// URL")
        });
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("{url}: no host"));
    }
    Ok(())
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `{external_url}/#/series/{metric}` (the dashboard's series page: the
/// dashboard routes by the fragment), or empty without a base.
pub(crate) fn generator_url(external_url: Option<&str>, metric: &str) -> String {
    external_url.map_or_else(String::new, |base| {
        let path: String = form_path(metric);
        format!("{}/#/series/{path}", base.trim_end_matches('/'))
    })
}

fn form_path(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends `body` with `POST`, retrying failures except 4xx answers.
pub(crate) fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    attempts: u32,
    first_delay: Duration,
) -> Result<(), DeliveryError> {
    let mut delay = first_delay;
    let mut last = String::new();
    let attempts = attempts.max(1);
    for attempt in 1..=attempts {
        match agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
        {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => {
                let code = resp.status().as_u16();
                last = format!("HTTP {code}");
                // A 4xx other than 429 means the receiver refused the content: retrying will not help.
                if (400..500).contains(&code) && code != 429 {
                    return Err(DeliveryError {
                        url: url.to_owned(),
                        attempts: attempt,
                        last,
                    });
                }
            }
            Err(e) => last = e.to_string(),
        }
        if attempt < attempts {
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2);
        }
    }
    Err(DeliveryError {
        url: url.to_owned(),
        attempts,
        last,
    })
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// The labels every alert in `alerts` shares.
pub(crate) fn common<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut it = maps;
    let Some(first) = it.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for m in it {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}
