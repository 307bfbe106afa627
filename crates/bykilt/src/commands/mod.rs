//! One module per command group; each command returns its exit code.

pub(crate) mod batch;
pub(crate) mod expose;
pub(crate) mod metrics;
pub(crate) mod plot;
pub(crate) mod run_catalog;
