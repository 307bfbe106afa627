use metrics_core::record_execution_time;

#[record_execution_time(name = "")]
fn work() {}

fn main() {
    work();
}
