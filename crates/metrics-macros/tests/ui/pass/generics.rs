#![deny(warnings)]
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;

use metrics_core::record_execution_time;

#[record_execution_time]
fn group<'a, K, V: Display>(items: &'a [(K, V)]) -> HashMap<&'a K, Vec<String>>
where
    K: Hash + Eq,
{
    let mut out: HashMap<&K, Vec<String>> = HashMap::new();
    for (k, v) in items {
        out.entry(k).or_default().push(v.to_string());
    }
    out
}

#[record_execution_time]
fn first_const<const N: usize, T: Copy>(xs: [T; N]) -> Option<T> {
    xs.first().copied()
}

fn main() {
    assert_eq!(group(&[(1, "a"), (1, "b")])[&1].len(), 2);
    assert_eq!(first_const([3, 4]), Some(3));
}
