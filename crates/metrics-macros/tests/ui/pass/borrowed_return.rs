#![deny(warnings)]
use metrics_core::record_execution_time;

#[record_execution_time]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[record_execution_time]
fn trimmed(s: &str) -> &str {
    s.trim()
}

#[record_execution_time]
fn slot(v: &mut Vec<u8>, i: usize) -> Option<&mut u8> {
    v.get_mut(i)
}

fn main() {
    assert_eq!(longest("a", "bb"), "bb");
    assert_eq!(trimmed(" x "), "x");
    let mut v = vec![1];
    *slot(&mut v, 0).unwrap() = 2;
    assert_eq!(v, [2]);
}
