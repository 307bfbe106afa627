//! `TagFilter`: which tag sets a query selects.

use super::set::TagSet;

/// Selects samples by tags: a sample matches when it carries **every** pair
/// of the filter (it may carry more). The empty filter matches everything.
///
/// ```
/// use metrics_core::TagFilter;
/// let f = TagFilter::new().with("status", "completed").with("batch_id", "b1");
/// assert_eq!(f.len(), 2);
/// assert!(TagFilter::any().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter(Vec<(String, String)>);

impl TagFilter {
    /// The filter that matches every sample.
    pub fn new() -> Self {
        TagFilter(Vec::new())
    }

    /// Same as [`TagFilter::new`]: matches everything.
    pub fn any() -> Self {
        TagFilter::new()
    }

    /// Adds a required `key=value` pair.
    #[must_use = "with returns the extended filter"]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Number of required pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the filter matches everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The required pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether `tags` carries every pair of the filter.
    pub fn matches(&self, tags: &TagSet) -> bool {
        self.0.iter().all(|(k, v)| tags.get(k) == Some(v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for TagFilter {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        TagFilter(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl From<&[(&str, &str)]> for TagFilter {
    fn from(pairs: &[(&str, &str)]) -> Self {
        pairs.iter().copied().collect()
    }
}

impl<const N: usize> From<&[(&str, &str); N]> for TagFilter {
    fn from(pairs: &[(&str, &str); N]) -> Self {
        pairs.iter().copied().collect()
    }
}
