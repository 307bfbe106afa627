//! Synchronisation primitives the cells and the sample store build on.

pub(crate) mod spin;
pub(crate) mod stripe;
