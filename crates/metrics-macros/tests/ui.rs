//! Compile-time behaviour: every supported shape compiles warning-free
//! (`tests/ui/pass`), and every misuse is a compile error pointing at the
//! user's tokens (`tests/ui/fail`, expected output in the `.stderr` files;
//! regenerate them with `TRYBUILD=overwrite`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
