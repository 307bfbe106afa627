//! `TagSet`: an immutable, sorted, de-duplicated list of `key=value` pairs,
//! cheap to clone (one reference count), and its stored text form.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::block::{TagBlock, TextWriter};
use super::input::Tags;

impl Tags for &TagSet {
    fn tag_count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn for_each_tag<'a>(&'a self, mut f: impl FnMut(&'a str, &'a str)) {
        for (k, v) in self.iter() {
            f(k, v)
        }
    }
}

/// An immutable, sorted set of `key=value` tags. Cloning is one atomic
/// increment. Serializes as a JSON object (`{"k": "v"}`).
///
/// Stored in one allocation behind an 8-byte pointer: a 16-byte header
/// (reference count, length) and the keys and values, in key order, joined
/// by a byte (`0xFF`) that never occurs in UTF-8 text. A series keeps each
/// of its tag sets in the same allocation as that set's aggregate, and the
/// tag sets it hands out (from handles, [`MetricSeries::tag_sets`](crate::MetricSeries::tag_sets),
/// snapshots) share that allocation, keeping it alive while they live.
#[derive(Clone)]
pub struct TagSet(TagBlock);

/// Separates keys and values inside a [`TagSet`] (as seen by readers of
/// [`TagSet::as_bytes`]) and the pieces of a per-thread cache key; never
/// part of UTF-8 text, so the encodings are unambiguous.
pub(crate) const SEP: u8 = 0xFF;

/// Text of a piece. Every piece was a `&str` when the set was built and the
/// separator never occurs inside UTF-8, so this never falls back.
#[inline]
fn text(piece: &[u8]) -> &str {
    std::str::from_utf8(piece).unwrap_or("")
}

/// The stored form of sorted, unique pairs: keys and values joined by [`SEP`].
pub(crate) fn encode_sorted_unique(pairs: &[(&str, &str)]) -> Vec<u8> {
    let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>();
    let mut bytes: Vec<u8> = Vec::with_capacity(len.saturating_sub(1));
    for &(k, v) in pairs {
        if !bytes.is_empty() {
            bytes.push(SEP);
        }
        bytes.extend_from_slice(k.as_bytes());
        bytes.push(SEP);
        bytes.extend_from_slice(v.as_bytes());
    }
    bytes
}

/// Length of [`encode_sorted_unique`]`(pairs)` (saturating: a length past
/// `u32::MAX` is refused by the block anyway).
#[inline]
pub(crate) fn encoded_len(pairs: &[(&str, &str)]) -> usize {
    let len = pairs
        .iter()
        .fold(0usize, |sum, (k, v)| sum.saturating_add(k.len() + v.len() + 2));
    // The last separator is not part of the text.
    len.saturating_sub(1)
}

/// Writes [`encode_sorted_unique`]`(pairs)` into a block being built: a
/// series' new tag set is encoded in its own allocation, with no buffer in
/// between.
#[inline]
pub(crate) fn write_encoded(pairs: &[(&str, &str)], w: &mut TextWriter<'_>) {
    for (i, &(k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            w.put_byte(SEP);
        }
        w.put(k.as_bytes());
        w.put_byte(SEP);
        w.put(v.as_bytes());
    }
}

/// A tag set's text is 4 GiB or longer, past what a [`TagSet`] can hold.
#[derive(Debug)]
pub(crate) struct TagSetTooLarge(usize);

impl fmt::Display for TagSetTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tag set of {} bytes is too large; a tag set holds under 4 GiB of keys and values",
            self.0
        )
    }
}

impl TagSet {
    /// The empty tag set.
    pub fn empty() -> Self {
        TagSet::default()
    }

    /// Builds a tag set from pairs, sorting them by key. A key given twice
    /// keeps its last value. No validation is done here: the store validates
    /// tags when they are recorded.
    ///
    /// # Panics
    /// When the keys and values add up to 4 GiB or more (as `Vec` panics
    /// past its capacity). Tags the store accepts are far below that.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        match Self::try_from_pairs(pairs) {
            Ok(set) => set,
            Err(too_large) => panic!("{too_large}"),
        }
    }

    fn try_from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, TagSetTooLarge> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            map.insert(k.as_ref().to_owned(), v.as_ref().to_owned());
        }
        let pairs: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let text = encode_sorted_unique(&pairs);
        TagBlock::plain(&text).map(TagSet).ok_or(TagSetTooLarge(text.len()))
    }

    /// Wraps a block (plain or a series' entry).
    pub(crate) fn from_block(block: TagBlock) -> Self {
        TagSet(block)
    }

    /// The block holding the text.
    #[inline]
    pub(crate) fn block(&self) -> &TagBlock {
        &self.0
    }

    /// The stored bytes: `key SEP value SEP key SEP value…` in key order
    /// (empty for the empty set); for writers that copy pairs in runs.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.text()
    }

    /// The (key, value) pairs as bytes, in key order.
    #[inline]
    fn raw_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let text = self.0.text();
        let mut pieces = (!text.is_empty())
            .then(|| text.split(|&b| b == SEP))
            .into_iter()
            .flatten();
        std::iter::from_fn(move || Some((pieces.next()?, pieces.next()?)))
    }

    /// [`hash_tags`](super::hash_tags) of this set, read from the stored
    /// bytes (no UTF-8 check).
    #[cfg(test)]
    pub(crate) fn stored_hash(&self) -> u64 {
        let mut n = 0usize;
        let sum = self.raw_pairs().fold(0u64, |sum, (k, v)| {
            n += 1;
            sum.wrapping_add(super::input::pair_hash(k, v))
        });
        super::input::finish_hash(n, sum)
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.raw_pairs().count()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.text().is_empty()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw_pairs()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| text(v))
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.raw_pairs().map(|(k, v)| (text(k), text(v)))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.raw_pairs().map(|(k, _)| text(k))
    }

    /// Whether every pair given through `tags` is in this set, and nothing else:
    /// the set equality used for lookups. `tags` with a repeated key never match.
    pub(crate) fn equals_tags(&self, tags: &impl Tags) -> bool {
        let n = self.len();
        if tags.tag_count() != n || n > 64 {
            return false;
        }
        let mut seen: u64 = 0;
        let mut ok = true;
        tags.for_each_tag(|k, v| {
            if !ok {
                return;
            }
            match self.raw_pairs().enumerate().find(|(_, (sk, _))| *sk == k.as_bytes()) {
                Some((i, (_, sv))) if sv == v.as_bytes() => seen |= 1u64 << i,
                _ => ok = false,
            }
        });
        let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        ok && seen == all
    }
}

impl Default for TagSet {
    /// The empty tag set.
    fn default() -> Self {
        TagSet::from_pairs(std::iter::empty::<(&str, &str)>())
    }
}

impl PartialEq for TagSet {
    fn eq(&self, other: &Self) -> bool {
        self.0.text() == other.0.text()
    }
}

impl Eq for TagSet {}

impl Hash for TagSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.text().hash(state);
    }
}

impl PartialOrd for TagSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagSet {
    /// Lexicographic over the (key, value) pairs in key order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.raw_pairs().cmp(other.raw_pairs())
    }
}

impl fmt::Debug for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl fmt::Display for TagSet {
    /// Formats as `k1=v1,k2=v2` (the empty set as the empty string).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for TagSet {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        TagSet::from_pairs(iter)
    }
}

impl Serialize for TagSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TagSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagSetVisitor;
        impl<'de> Visitor<'de> for TagSetVisitor {
            type Value = TagSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of string tag keys to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<TagSet, A::Error> {
                let mut pairs: Vec<(String, String)> = Vec::new();
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    pairs.push((k, v));
                }
                TagSet::try_from_pairs(pairs).map_err(serde::de::Error::custom)
            }
        }
        deserializer.deserialize_map(TagSetVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::TagFilter;
    use super::super::input::hash_tags;
    use super::*;

    #[test]
    fn tag_set_sorts_and_dedups() {
        let t = TagSet::from_pairs([("b", "2"), ("a", "1"), ("b", "3")]);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![("a", "1"), ("b", "3")]);
        assert_eq!(t.get("b"), Some("3"));
        assert_eq!(t.get("c"), None);
        assert_eq!(t.to_string(), "a=1,b=3");
    }

    #[test]
    fn hash_does_not_depend_on_order() {
        let a: &[(&str, &str)] = &[("x", "1"), ("y", "2")];
        let b: &[(&str, &str)] = &[("y", "2"), ("x", "1")];
        assert_eq!(hash_tags(&a), hash_tags(&b));
        let set = TagSet::from_pairs(a.iter().copied());
        assert_eq!(hash_tags(&&set), hash_tags(&a));
        let c: &[(&str, &str)] = &[("x", "2"), ("y", "1")];
        assert_ne!(hash_tags(&a), hash_tags(&c));
    }

    #[test]
    fn pair_hashes_tell_apart_where_a_piece_ends_and_every_length() {
        use super::super::input::pair_hash;
        assert_ne!(pair_hash(b"ab", b"c"), pair_hash(b"a", b"bc"));
        assert_ne!(pair_hash(b"", b"x"), pair_hash(b"x", b""));
        let mut values = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for len in 0..40 {
            for i in 0..500 {
                // Zero-padded to `len` digits: every length from 1 to 39.
                let v = format!("{i:0len$}");
                if values.insert(v.clone()) {
                    assert!(hashes.insert(pair_hash(b"user_name", v.as_bytes())), "{v}");
                }
            }
        }
    }

    #[test]
    fn equality_against_borrowed_tags() {
        let set = TagSet::from_pairs([("a", "1"), ("b", "2")]);
        let same: &[(&str, &str)] = &[("b", "2"), ("a", "1")];
        let dup: &[(&str, &str)] = &[("a", "1"), ("a", "1")];
        let other: &[(&str, &str)] = &[("a", "1"), ("b", "3")];
        let shorter: &[(&str, &str)] = &[("a", "1")];
        assert!(set.equals_tags(&same));
        assert!(!set.equals_tags(&dup));
        assert!(!set.equals_tags(&other));
        assert!(!set.equals_tags(&shorter));
    }

    #[test]
    fn filter_requires_every_pair() {
        let set = TagSet::from_pairs([("a", "1"), ("b", "2")]);
        assert!(TagFilter::any().matches(&set));
        assert!(TagFilter::new().with("a", "1").matches(&set));
        assert!(TagFilter::new().with("a", "1").with("b", "2").matches(&set));
        assert!(!TagFilter::new().with("a", "1").with("b", "9").matches(&set));
        assert!(!TagFilter::new().with("c", "1").matches(&set));
    }

    #[test]
    fn serde_as_object() {
        let set = TagSet::from_pairs([("b", "2"), ("a", "1")]);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        assert_eq!(serde_json::from_str::<TagSet>(&json).unwrap(), set);
    }
}
