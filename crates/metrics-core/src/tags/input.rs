//! `Tags`: every form callers pass tags in, read without allocating, and the
//! order-independent hash the store looks tag sets up by.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};

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
    mix_piece(mix_piece(PAIR_SEED, k), v)
}

const PAIR_SEED: u64 = 0x4528_21e6_38d0_1377;
const PIECE_KEY: u64 = 0x243f_6a88_85a3_08d3;

/// The 128-bit product of `a` and `b`, folded to 64 bits: one multiply
/// mixes every input bit into the result.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

#[inline(always)]
fn half(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4])))
}

/// Folds `bytes` and its length into `h`, 16 bytes per multiply (the last
/// 16 overlapping the ones before).
#[inline(always)]
fn mix_piece(mut h: u64, bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let (lo, hi) = if n > 16 {
        let mut at = 0;
        while at + 16 < n {
            h = folded_multiply(word(bytes, at) ^ h, word(bytes, at + 8) ^ PIECE_KEY);
            at += 16;
        }
        (word(bytes, n - 16), word(bytes, n - 8))
    } else if n >= 8 {
        (word(bytes, 0), word(bytes, n - 8))
    } else if n >= 4 {
        (half(bytes, 0), half(bytes, n - 4))
    } else if n > 0 {
        // Bytes 0, n/2 and n-1 cover all of 1 to 3 bytes.
        (
            (u64::from(bytes[0]) << 16) | (u64::from(bytes[n / 2]) << 8) | u64::from(bytes[n - 1]),
            0,
        )
    } else {
        (0, 0)
    };
    folded_multiply(lo ^ h, hi ^ PIECE_KEY ^ (n as u64))
}

/// [`hash_tags`] from the count and the wrapping sum of the pair hashes.
#[inline]
pub(crate) fn finish_hash(count: usize, sum: u64) -> u64 {
    // The count, then a final mix so that sums of few pairs still spread
    // over the table.
    let mut h = HASH_STATE.build_hasher();
    h.write_u64((count as u64).wrapping_add(sum));
    h.finish()
}
