//! A batch: one encoded request body and what acknowledging it moves the
//! send position to.

use crate::history::Collection;
use crate::position::Positions;

/// One request, ready to POST.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    /// The encoded (for remote write: snappy-compressed) body.
    pub(crate) body: Vec<u8>,
    /// Samples (remote write) or data points (OTLP) in it.
    pub(crate) samples: usize,
    /// The newest timestamp of each series in it.
    pub(crate) updates: Positions,
}

/// Turns a [`Collection`] into batches, leaving out what `sent` says was
/// already sent.
pub(crate) trait Encoder: Send {
    /// The batches of `collection` with samples newer than `sent`, each at
    /// most `max_samples`.
    fn batches(&mut self, collection: &Collection, sent: &Positions, max_samples: usize) -> Vec<Batch>;
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
