use metrics_core::{record_execution_time, record_memory_usage};

#[record_execution_time(objective(success = 100, latency = "fast", percentile = "99"))]
fn out_of_range() {}

#[record_execution_time(objective(percentile = 99, speed = 1))]
fn no_objective() {}

#[record_execution_time(objective())]
fn empty() {}

#[record_memory_usage(objective(success = 99.9))]
fn memory() {}

fn main() {
    out_of_range();
    no_objective();
    empty();
    memory();
}
