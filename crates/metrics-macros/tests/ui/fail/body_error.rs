use metrics_core::record_execution_time;

#[record_execution_time]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    let label: u32 = "one";
    Ok(n + label + missing)
}

fn main() {
    let _ = parse("1");
}
