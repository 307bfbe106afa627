use metrics_core::record_execution_time;

#[record_execution_time]
struct Job;

fn main() {}
