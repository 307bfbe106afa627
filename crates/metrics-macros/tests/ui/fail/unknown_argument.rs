use metrics_core::record_execution_time;

#[record_execution_time(nmae = "typo", labels(a = "b"), tags(ok_key = "v"))]
fn work() {}

fn main() {
    work();
}
