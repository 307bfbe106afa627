use metrics_core::record_execution_time;

fn region() -> &'static str {
    "eu"
}

#[record_execution_time(tags(region = region(), shard = 3, user = format!("{}", 1)))]
fn work() {}

fn main() {
    work();
}
