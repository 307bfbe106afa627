#![deny(warnings)]
use std::fmt::Debug;

use metrics_core::record_execution_time;

#[record_execution_time]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[record_execution_time]
fn words(s: &str) -> impl Iterator<Item = &str> + '_ {
    s.split(' ')
}

#[record_execution_time]
fn either(flag: bool) -> impl Debug {
    if flag {
        return "yes";
    }
    "no"
}

#[record_execution_time]
fn takes_impl(items: impl IntoIterator<Item = u8>) -> u32 {
    items.into_iter().map(u32::from).sum()
}

fn main() {
    assert_eq!(evens(5).count(), 3);
    assert_eq!(words("a b").count(), 2);
    assert_eq!(format!("{:?}", either(false)), "\"no\"");
    assert_eq!(takes_impl([1, 2]), 3);
}
