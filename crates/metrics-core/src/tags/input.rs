//! `Tags`: every form callers pass tags in, read without allocating, and the
//! order-independent hash the store looks tag sets up by.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};

use crate::hash::mix;

/// Anything that can be passed as the tags of a sample.
///
/// Implemented for `&[(&str, &str)]`, `&[(&str, &str); N]` (so `&[]` works),
/// `&[(String, String)]`, `&Vec<(String, String)>`, `&HashMap<String, String>`,
/// `&BTreeMap<String, String>` and `&TagSet`. Order does not matter.
pub trait Tags {
    /// How many pairs there are (including duplicates, which the store rejects).
    fn tag_count(&self) -> usize;
    /// Calls `f` once per pair.
    fn for_each_tag<'a>(&'a self, f: impl FnMut(&'a str, &'a str));
    /// The pairs as one slice, for the forms that hold them so
    /// (`&[(&str, &str)]` and arrays of them), so that the lookup cache can
    /// compare them in a loop that stops at the first difference; `None`
    /// (the default) for every other form, which is compared through
    /// [`for_each_tag`](Self::for_each_tag).
    #[doc(hidden)]
    #[inline(always)]
    fn str_pairs(&self) -> Option<&[(&str, &str)]> {
        None
    }
}

impl Tags for &[(&str, &str)] {
    fn tag_count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn for_each_tag<'a>(&'a self, mut f: impl FnMut(&'a str, &'a str)) {
        for (k, v) in self.iter() {
            f(k, v)
        }
    }
    #[inline(always)]
    fn str_pairs(&self) -> Option<&[(&str, &str)]> {
        Some(self)
    }
}

impl<const N: usize> Tags for &[(&str, &str); N] {
    fn tag_count(&self) -> usize {
        N
    }
    #[inline]
    fn for_each_tag<'a>(&'a self, mut f: impl FnMut(&'a str, &'a str)) {
        for (k, v) in self.iter() {
            f(k, v)
        }
    }
    #[inline(always)]
    fn str_pairs(&self) -> Option<&[(&str, &str)]> {
        Some(&self[..])
    }
}

impl Tags for &[(String, String)] {
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

impl Tags for &Vec<(String, String)> {
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

impl<S> Tags for &HashMap<String, String, S> {
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

impl Tags for &BTreeMap<String, String> {
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

/// Order-independent hash of a tag list: the wrapping sum of per-pair hashes,
/// mixed with the count. Equal sets hash equal whatever order the pairs came in.
pub(crate) fn hash_tags(tags: &impl Tags) -> u64 {
    let mut sum = 0u64;
    tags.for_each_tag(|k, v| sum = sum.wrapping_add(pair_hash(k.as_bytes(), v.as_bytes())));
    finish_hash(tags.tag_count(), sum)
}

const HASH_STATE: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15);

/// One pair's share of [`hash_tags`]: the key, then the value, each folded
/// in by one 128-bit multiply per 16 bytes (foldhash's and wyhash's mixing
/// step) with its length, so that ("ab", "c") and ("a", "bc") hash apart.
/// Keys and values are mostly under 16 bytes: two loads and one multiply
/// each, where a general hasher's state and finish cost three times that,
/// and every new tag set hashes every pair.
#[inline]
pub(crate) fn pair_hash(k: &[u8], v: &[u8]) -> u64 {
    mix(mix(PAIR_SEED, k), v)
}

const PAIR_SEED: u64 = 0x4528_21e6_38d0_1377;

/// [`hash_tags`] from the count and the wrapping sum of the pair hashes.
#[inline]
pub(crate) fn finish_hash(count: usize, sum: u64) -> u64 {
    // The count, then a final mix so that sums of few pairs still spread
    // over the table.
    let mut h = HASH_STATE.build_hasher();
    h.write_u64((count as u64).wrapping_add(sum));
    h.finish()
}
