//! One module per command group; each command returns its exit code.

pub(crate) mod alert_store;
pub(crate) mod alerts;
pub(crate) mod batch;
pub(crate) mod expose;
pub(crate) mod history;
pub(crate) mod metrics;
pub(crate) mod plot;
pub(crate) mod remote;
pub(crate) mod run_catalog;
pub(crate) mod saved_command;
pub(crate) mod serve_db;
pub(crate) mod store;
