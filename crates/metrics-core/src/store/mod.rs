//! The store: validation, the tag index, retained samples, series and the
//! per-thread resolution cache.

pub(crate) mod index;
pub(crate) mod overflow;
pub(crate) mod owned;
pub(crate) mod ring;
pub(crate) mod samples;
pub(crate) mod series;
pub(crate) mod settings;
pub(crate) mod sink;
pub(crate) mod thread_cache;
pub(crate) mod update;
pub(crate) mod validate;
