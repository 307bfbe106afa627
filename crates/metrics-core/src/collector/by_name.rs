//! `SeriesByName`: a series as the key of the collector's map.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::store::series::MetricSeries;

/// A series, hashed and compared by its name, so that the map keeps one
/// pointer per series and finds it by `&str` (`Borrow<str>`: the hash is
/// the name's own, as a `&str` lookup computes it).
#[derive(Debug)]
pub(super) struct SeriesByName(pub(super) Arc<MetricSeries>);

impl Borrow<str> for SeriesByName {
    fn borrow(&self) -> &str {
        self.0.name()
    }
}

impl Hash for SeriesByName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name().hash(state);
    }
}

impl PartialEq for SeriesByName {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for SeriesByName {}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::MetricsCollector;

    #[test]
    fn a_series_key_hashes_and_compares_as_its_name() {
        let c = MetricsCollector::default();
        c.increment_counter("jobs", &[("queue", "a")], 1).unwrap();
        c.increment_counter("job", &[("queue", "a")], 1).unwrap();
        let jobs = SeriesByName(c.get_metric_series("jobs").unwrap());
        let job = SeriesByName(c.get_metric_series("job").unwrap());
        let hasher = foldhash::fast::RandomState::default();
        assert_eq!(hasher.hash_one(&jobs), hasher.hash_one("jobs"));
        assert_eq!(Borrow::<str>::borrow(&jobs), "jobs");
        assert!(jobs != job);
        assert!(jobs == SeriesByName(c.get_metric_series("jobs").unwrap()));
    }
}
