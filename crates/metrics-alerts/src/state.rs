//! The life of one alert: inactive → pending → firing → resolved, with the
//! time of every change.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition does not hold.
    Inactive,
    /// The condition holds, for less than the rule's `for`.
    Pending,
    /// The condition has held for at least `for`.
    Firing,
    /// It fired and the condition no longer holds.
    Resolved,
}

impl AlertStatus {
    /// The status as written in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Inactive => "inactive",
            AlertStatus::Pending => "pending",
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert: a rule and one group of its `by` tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// Every label: `alertname`, the group's tags, the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// The last value the condition saw.
    pub value: f64,
    /// The current status.
    pub status: AlertStatus,
    /// When the status last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When the condition started to hold (pending, or firing at once).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub active_at: Option<OffsetDateTime>,
    /// When it fired.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub fired_at: Option<OffsetDateTime>,
    /// When it was resolved.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub resolved_at: Option<OffsetDateTime>,
    /// The metric the rule reads, for links to its series page.
    pub metric: String,
}

impl Alert {
    /// A stable identity: the rule and its labels.
    pub fn key(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{}{{{}}}", self.rule, labels.join(","))
    }
}

/// A change of status.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// The alert after the change.
    pub alert: Alert,
    /// Its status before.
    pub from: AlertStatus,
}

/// Moves `alert` one evaluation on: `value` is `Some` when the condition
/// holds. Returns the previous status when it changed.
pub(crate) fn step(
    alert: &mut Alert,
    value: Option<f64>,
    for_duration: Duration,
    now: OffsetDateTime,
) -> Option<AlertStatus> {
    let from = alert.status;
    if let Some(v) = value {
        alert.value = v;
    }
    let to = match (from, value) {
        (AlertStatus::Inactive | AlertStatus::Resolved, Some(_)) => {
            alert.active_at = Some(now);
            alert.fired_at = None;
            alert.resolved_at = None;
            if for_duration.is_zero() {
                AlertStatus::Firing
            } else {
                AlertStatus::Pending
            }
        }
        (AlertStatus::Pending, Some(_)) => {
            let held = alert.active_at.map_or(Duration::ZERO, |a| (now - a).unsigned_abs());
            if held >= for_duration {
                AlertStatus::Firing
            } else {
                AlertStatus::Pending
            }
        }
        (AlertStatus::Firing, Some(_)) => AlertStatus::Firing,
        (AlertStatus::Pending, None) => AlertStatus::Inactive,
        (AlertStatus::Firing, None) => {
            alert.resolved_at = Some(now);
            AlertStatus::Resolved
        }
        (s @ (AlertStatus::Inactive | AlertStatus::Resolved), None) => s,
    };
    if to == AlertStatus::Firing && from != AlertStatus::Firing {
        alert.fired_at = Some(now);
    }
    if to == from {
        return None;
    }
    alert.status = to;
    alert.since = now;
    Some(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(now: OffsetDateTime) -> Alert {
        Alert {
            rule: "R".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            value: 0.0,
            status: AlertStatus::Inactive,
            since: now,
            active_at: None,
            fired_at: None,
            resolved_at: None,
            metric: "m".into(),
        }
    }

    #[test]
    fn pending_for_the_for_duration_then_firing_then_resolved() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let s = |n: i64| t0 + time::Duration::seconds(n);
        let f = Duration::from_secs(60);
        let mut a = alert(t0);
        assert_eq!(step(&mut a, Some(1.0), f, s(0)), Some(AlertStatus::Inactive));
        assert_eq!(a.status, AlertStatus::Pending);
        assert_eq!(step(&mut a, Some(2.0), f, s(30)), None);
        assert_eq!(a.status, AlertStatus::Pending);
        assert_eq!(step(&mut a, Some(3.0), f, s(60)), Some(AlertStatus::Pending));
        assert_eq!(
            (a.status, a.fired_at, a.active_at, a.value),
            (AlertStatus::Firing, Some(s(60)), Some(s(0)), 3.0)
        );
        assert_eq!(step(&mut a, None, f, s(75)), Some(AlertStatus::Firing));
        assert_eq!(
            (a.status, a.resolved_at, a.since),
            (AlertStatus::Resolved, Some(s(75)), s(75))
        );
        // Holding again starts over at pending.
        assert_eq!(step(&mut a, Some(1.0), f, s(90)), Some(AlertStatus::Resolved));
        assert_eq!(
            (a.status, a.resolved_at, a.fired_at),
            (AlertStatus::Pending, None, None)
        );
        // A pending alert whose condition clears never fired.
        assert_eq!(step(&mut a, None, f, s(100)), Some(AlertStatus::Pending));
        assert_eq!(a.status, AlertStatus::Inactive);
    }

    #[test]
    fn without_for_an_alert_fires_at_once() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut a = alert(t0);
        step(&mut a, Some(1.0), Duration::ZERO, t0);
        assert_eq!((a.status, a.fired_at), (AlertStatus::Firing, Some(t0)));
    }
}
