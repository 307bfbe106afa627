//! Every file write of the crate.

pub(crate) mod files;
