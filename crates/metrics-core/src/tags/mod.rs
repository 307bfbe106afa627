//! Tags: the `Tags` input trait, the immutable `TagSet`, `TagFilter`, and
//! the one-allocation block behind a tag set and a series' `TagEntry`.

pub(crate) mod block;
pub(crate) mod entry;
mod filter;
mod input;
mod set;

pub use filter::TagFilter;
pub use input::Tags;
pub(crate) use input::hash_tags;
pub use set::TagSet;
#[cfg(test)]
pub(crate) use set::encode_sorted_unique;
pub(crate) use set::{SEP, with_encoded};
