//! Background work: the metrics manager, the durable store it attaches,
//! and (feature `system`) the system sampler.

pub(crate) mod durable;
pub(crate) mod manager;
#[cfg(feature = "system")]
pub mod system;
