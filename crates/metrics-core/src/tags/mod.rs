//! Tags: the `Tags` input trait, the immutable `TagSet`, `TagFilter`, and
//! the one-allocation block behind a tag set.

pub(crate) mod block;
mod set;

pub(crate) use set::{SEP, encode_sorted_unique, hash_tags};
pub use set::{TagFilter, TagSet, Tags};
