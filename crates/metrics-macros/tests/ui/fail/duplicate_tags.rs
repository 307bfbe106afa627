use metrics_core::record_execution_time;

#[record_execution_time(tags(region = "eu", team = "core", region = "us"))]
fn work() {}

fn main() {
    work();
}
