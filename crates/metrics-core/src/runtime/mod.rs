//! Background work: the metrics manager and the system sampler.

pub(crate) mod manager;
pub mod system;
