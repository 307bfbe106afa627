//! A batch: one encoded request body and what acknowledging it moves the
//! send position to.

use crate::history::Collection;
use crate::position::Positions;

/// One request, ready to POST.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The encoded (for remote write: snappy-compressed) body.
    pub body: Vec<u8>,
    /// Samples (remote write) or data points (OTLP) in it.
    pub samples: usize,
    /// The newest timestamp of each series in it: where acknowledging the
    /// batch moves the [`SendPosition`](crate::SendPosition).
    pub updates: Positions,
}

/// The batches a sender would post now for `collector`: the retained
/// samples recorded at or after `since` (all when `None`) that `sent` does
/// not already cover, and the aggregates stamped with the current time.
/// What a sender does at each interval, without sending.
pub fn encode_pending(
    collector: &metrics_core::MetricsCollector,
    protocol: &crate::Protocol,
    since: Option<time::OffsetDateTime>,
    sent: &Positions,
    max_samples_per_batch: usize,
) -> Vec<Batch> {
    let since = |_: &str| since;
    let collection = Collection::read(collector, &since, None);
    let mut encoder: Box<dyn Encoder> = match protocol {
        crate::Protocol::RemoteWrite => Box::new(crate::prw::RemoteWriteEncoder),
        crate::Protocol::Otlp { service_name } => Box::new(crate::otlp::OtlpEncoder::new(service_name)),
    };
    encoder.batches(&collection, sent, None, max_samples_per_batch)
}

/// Turns a [`Collection`] into batches, leaving out what `sent` says was
/// already sent.
pub(crate) trait Encoder: Send {
    /// The batches of `collection` with samples newer than `sent`, each at
    /// most `max_samples`; with `until`, only the series it names and their
    /// samples up to its timestamps.
    fn batches(
        &mut self,
        collection: &Collection,
        sent: &Positions,
        until: Option<&Positions>,
        max_samples: usize,
    ) -> Vec<Batch>;
}

/// Applies `until` to one series' points (already past its position):
/// false when the series is not to be sent at all.
pub(crate) fn within<T>(points: &mut Vec<(i64, T)>, key: &str, until: Option<&Positions>) -> bool {
    match until {
        None => true,
        Some(u) => match u.get(key) {
            None => false,
            Some(&last) => {
                points.retain(|p| p.0 <= last);
                true
            }
        },
    }
}

/// The batches to send for `collection`: first, if a restarted sender left
/// a batch in flight, that batch's samples alone; then everything newer.
/// Advances nothing: the caller moves `sent` past each batch it queues.
pub(crate) fn plan(
    encoder: &mut dyn Encoder,
    collection: &Collection,
    sent: &Positions,
    in_flight: Option<Positions>,
    max_samples: usize,
) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut sent = sent.clone();
    if let Some(f) = in_flight {
        out.extend(encoder.batches(collection, &sent, Some(&f), max_samples));
        for (k, t) in f {
            let e = sent.entry(k).or_insert(t);
            *e = (*e).max(t);
        }
    }
    out.extend(encoder.batches(collection, &sent, None, max_samples));
    out
}

/// Keeps the points of one series newer than its position, after sorting
/// them by time and keeping the last of equal timestamps (so an aggregate
/// pushed after the samples wins over a sample of the same instant).
pub(crate) fn newer_than<T>(points: &mut Vec<(i64, T)>, position: Option<i64>) {
    points.sort_by_key(|p| p.0);
    let mut out: Vec<(i64, T)> = Vec::with_capacity(points.len());
    for p in points.drain(..) {
        if position.is_some_and(|pos| p.0 <= pos) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => out.push(p),
        }
    }
    *points = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_duplicates_win_and_old_points_go() {
        let mut p = vec![(3, 'c'), (1, 'a'), (2, 'b'), (3, 'd')];
        newer_than(&mut p, Some(1));
        assert_eq!(p, vec![(2, 'b'), (3, 'd')]);
    }
}
