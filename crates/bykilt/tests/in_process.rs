//! Issue 12, item 7: the CLI records a batch into a collector of its own;
//! running a command leaves the process-wide collector untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;

#[test]
fn a_batch_run_leaves_the_global_collector_alone() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "a\n1\n2\n").unwrap();
    let global = metrics_core::get_metrics_collector();
    let root = dir.path().join("artifacts");
    let cli = bykilt::cli::Cli::parse_from([
        "bykilt",
        "batch",
        "run",
        csv.to_str().unwrap(),
        "--exec",
        "true",
        "--quiet",
        "--artifacts-dir",
        root.to_str().unwrap(),
    ]);
    let mut out = bykilt::output::Output::to(Box::new(std::io::sink()), Box::new(std::io::sink()), true, false);
    assert_eq!(bykilt::run(cli, &mut out), 0);
    assert!(global.list_series().is_empty(), "{:?}", global.list_series());
    assert_eq!(batch_engine::list_batches(&root).unwrap()[0].completed_jobs, 2);
}
