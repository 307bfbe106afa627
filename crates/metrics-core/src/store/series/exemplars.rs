//! Exemplars: per tag set and bucket, the latest observation that carried a
//! small label set (a `trace_id`, a `job_id`), its value and its time.
//!
//! They live beside the aggregates, not in the cells: the slots are
//! allocated by the first exemplar of a series, so counters and histograms
//! updated without exemplars keep their size and their update path. Memory
//! is bounded by one slot per (tag set, bucket) — a counter has one bucket,
//! a histogram its bounds plus `+Inf` — with at most 128 characters of labels
//! each (the OpenMetrics limit).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::MetricsError;
use crate::snapshot::exemplar::{BucketExemplar, Exemplar, MAX_EXEMPLAR_LABEL_CHARS};

/// The exemplar slots of a series, allocated on first use.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlots(OnceLock<Mutex<HashMap<(u32, usize), Exemplar>>>);

impl ExemplarSlots {
    /// Keeps `exemplar` for (`tag_id`, `bucket`), replacing the older one.
    pub(crate) fn put(&self, tag_id: u32, bucket: usize, exemplar: Exemplar) {
        let slots = self.0.get_or_init(Mutex::default);
        slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((tag_id, bucket), exemplar);
    }

    /// Keeps `exemplar` for (`tag_id`, `bucket`) unless the slot holds one
    /// recorded later.
    pub(crate) fn put_if_newer(&self, tag_id: u32, bucket: usize, exemplar: Exemplar) {
        let slots = self.0.get_or_init(Mutex::default);
        let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.get(&(tag_id, bucket)) {
            Some(kept) if kept.timestamp_nanos > exemplar.timestamp_nanos => {}
            _ => {
                slots.insert((tag_id, bucket), exemplar);
            }
        }
    }

    /// Whether the series ever kept an exemplar (a slot is never emptied
    /// once filled, short of removing its tag set).
    pub(crate) fn any(&self) -> bool {
        self.0.get().is_some()
    }

    /// Every exemplar by tag id, each tag set's sorted by bucket; empty
    /// (without locking) when the series never had one.
    pub(crate) fn all(&self) -> HashMap<u32, Vec<BucketExemplar>> {
        let Some(slots) = self.0.get() else {
            return HashMap::new();
        };
        let slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: HashMap<u32, Vec<BucketExemplar>> = HashMap::new();
        for (&(id, bucket), e) in slots.iter() {
            out.entry(id).or_default().push(BucketExemplar {
                bucket,
                exemplar: e.clone(),
            });
        }
        out.values_mut().for_each(|v| v.sort_by_key(|b| b.bucket));
        out
    }

    /// Forgets the exemplars of a removed tag set.
    pub(crate) fn forget(&self, tag_id: u32) {
        if let Some(slots) = self.0.get() {
            slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|(id, _), _| *id != tag_id);
        }
    }
}

impl super::MetricSeries {
    /// Keeps an exemplar for the bucket `value` falls in, for `entry_id`.
    pub(crate) fn keep_exemplar(&self, entry_id: u32, value: f64, labels: &[(&str, &str)]) -> crate::Result<()> {
        let labels = validate(self.name(), labels, value)?;
        self.put_exemplar(entry_id, value, labels);
        Ok(())
    }

    /// Keeps already validated `labels` as the exemplar of the bucket
    /// `value` falls in, stamped now.
    pub(crate) fn put_exemplar(&self, entry_id: u32, value: f64, labels: Vec<(String, String)>) {
        let timestamp_nanos = self.settings().now_nanos();
        self.extras().exemplars.put(
            entry_id,
            self.exemplar_bucket(value),
            Exemplar {
                labels,
                value,
                timestamp_nanos,
            },
        );
    }

    /// Puts back an exemplar read from an export, with its own time, unless
    /// the slot holds a newer one (latest wins). The bucket is found again
    /// from the value, so an exemplar lands in the right bucket even when
    /// the series kept other bounds than the export's.
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`] naming the series and the labels
    /// for labels or a value that cannot be exposed, or on a gauge (which
    /// has no exemplars).
    pub(crate) fn restore_exemplar(&self, entry_id: u32, exemplar: &Exemplar) -> crate::Result<()> {
        let pairs: Vec<(&str, &str)> = exemplar.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let labels = validate(self.name(), &pairs, exemplar.value)?;
        if self.metric_type() == crate::MetricType::Gauge {
            return Err(MetricsError::InvalidExemplar {
                name: self.name().to_owned(),
                labels: format!("{pairs:?}").chars().take(200).collect(),
                reason: "a gauge has no exemplars; only counters, histograms and timers carry them".to_owned(),
            });
        }
        self.extras().exemplars.put_if_newer(
            entry_id,
            self.exemplar_bucket(exemplar.value),
            Exemplar {
                labels,
                value: exemplar.value,
                timestamp_nanos: exemplar.timestamp_nanos,
            },
        );
        Ok(())
    }

    /// The bucket an exemplar of `value` belongs to: the first bound at or
    /// above it (`+Inf` past the last) for a histogram or timer, 0 else.
    fn exemplar_bucket(&self, value: f64) -> usize {
        match self.metric_type() {
            crate::MetricType::Histogram | crate::MetricType::Timer => self
                .buckets()
                .iter()
                .position(|&b| value <= b)
                .unwrap_or(self.buckets().len()),
            _ => 0,
        }
    }
}

/// Checks an exemplar's labels (label names, at most 128 characters in all)
/// and value; returns them owned.
pub(crate) fn validate(name: &str, labels: &[(&str, &str)], value: f64) -> Result<Vec<(String, String)>, MetricsError> {
    let bad = |reason: String| MetricsError::InvalidExemplar {
        name: name.to_owned(),
        labels: format!("{labels:?}").chars().take(200).collect(),
        reason,
    };
    if !value.is_finite() {
        return Err(bad(format!("the value {value} is not finite")));
    }
    let chars: usize = labels.iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum();
    if chars > MAX_EXEMPLAR_LABEL_CHARS {
        return Err(bad(format!(
            "{chars} characters of labels; at most {MAX_EXEMPLAR_LABEL_CHARS} are allowed"
        )));
    }
    for (k, _) in labels {
        let mut b = k.bytes();
        let ok = b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
        if !ok {
            return Err(bad(format!("{k:?} is not a label name [a-zA-Z_][a-zA-Z0-9_]*")));
        }
    }
    Ok(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}
