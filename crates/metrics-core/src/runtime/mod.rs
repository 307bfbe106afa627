//! Background work: the metrics manager and (feature `system`) the system sampler.

pub(crate) mod manager;
#[cfg(feature = "system")]
pub mod system;
