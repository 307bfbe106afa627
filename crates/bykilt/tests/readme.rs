//! Issue 10, item 5: the README's main command shows, on the terminal, the
//! word counts its jobs compute; every job's last output line is next to
//! its progress line; `--show-output` prints all of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The arguments of the README's `cargo run ... -- batch run ...` line.
fn readme_main_command() -> String {
    let readme = std::fs::read_to_string(format!("{WORKSPACE}/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -p bykilt -- batch run "))
        .expect("the README shows its main job");
    line.trim_start_matches("cargo run --release -p bykilt -- ").to_owned()
}

#[test]
fn the_readme_main_job_prints_the_word_counts_it_computes() {
    let s = Sandbox::new();
    let script = format!(
        "exec \"$BYKILT_BIN\" {} --artifacts-dir \"$ROOT\"",
        readme_main_command()
    );
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("BYKILT_BIN", common::BIN)
        .env("ROOT", s.root())
        .current_dir(WORKSPACE)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let stderr = text(&o.stderr);
    let mut reader = csv::Reader::from_path(format!("{WORKSPACE}/examples/data/openings.csv")).unwrap();
    let mut rows = 0;
    for record in reader.records() {
        let r = record.unwrap();
        let words = r[3].split_whitespace().count();
        let expected = format!("{} ({}, {}): {words} words", &r[0], &r[1], &r[2]);
        assert!(
            stdout.contains(&expected),
            "the final table lacks {expected:?}:\n{stdout}"
        );
        assert!(
            stderr.contains(&expected),
            "the progress lines lack {expected:?}:\n{stderr}"
        );
        rows += 1;
    }
    assert_eq!(rows, 18);
}

#[test]
fn show_output_prints_every_line_of_each_job() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(3));
    let o = s.run(&[
        "batch",
        "run",
        "in.csv",
        "--exec",
        "echo first $BYKILT_ID; echo second $BYKILT_ID >&2; echo last $BYKILT_ID",
        "--show-output",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    for id in 1..=3 {
        let job = format!("_{id:04}");
        for word in ["first", "second", "last"] {
            let line = err
                .lines()
                .find(|l| l.contains(&job) && l.ends_with(&format!("| {word} {id}")));
            assert!(line.is_some(), "no {word} line of row {id}:\n{err}");
        }
    }
    let out = text(&o.stdout);
    assert!(out.contains("last 3"), "final table: {out}");
}
