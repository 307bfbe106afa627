#![deny(warnings)]
use metrics_core::record_execution_time;

#[record_execution_time(objective(success = 99.9, latency = "250ms", percentile = 99))]
fn place(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[record_execution_time(name = "ship.seconds", objective(latency = "1.5s"), samples = false)]
async fn ship() {}

#[record_execution_time(objective(success = 99))]
fn bill() {}

fn main() {
    place(1).unwrap();
    bill();
    drop(ship());
    let declared = metrics_core::instrument::declared_objectives();
    assert_eq!(declared.len(), 2);
    assert_eq!(declared[0].success, Some(99.9));
    assert_eq!(declared[0].latency_seconds, Some(0.25));
    assert_eq!(declared[1].percentile, 99.0);
}
