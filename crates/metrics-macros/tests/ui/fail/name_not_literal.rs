use metrics_core::record_execution_time;

const NAME: &str = "jobs";

#[record_execution_time(name = NAME)]
fn work() {}

fn main() {
    work();
}
