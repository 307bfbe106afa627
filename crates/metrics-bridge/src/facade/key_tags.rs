//! A facade [`Key`]'s labels seen as metrics-core [`Tags`], without copying.

use metrics::Key;
use metrics_core::Tags;

/// The labels of a [`Key`], in the order the caller gave them. The store
/// hashes tags order-independently, so `("a", "b")` then `("c", "d")` and
/// the reverse resolve to one tag set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyTags<'k>(pub(crate) &'k Key);

impl Tags for KeyTags<'_> {
    fn tag_count(&self) -> usize {
        self.0.labels().len()
    }

    #[inline]
    fn for_each_tag<'a>(&'a self, mut f: impl FnMut(&'a str, &'a str)) {
        for label in self.0.labels() {
            f(label.key(), label.value());
        }
    }
}
