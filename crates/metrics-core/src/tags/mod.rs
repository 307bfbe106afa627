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
pub(crate) use set::SEP;
pub use set::TagSet;
#[cfg(test)]
pub(crate) use set::encode_sorted_unique;
