//! docs/storage.md's `sqlite3` queries and store commands, run against a
//! database `bykilt batch run` wrote: each returns what its comment says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, text};
use rusqlite::types::Value;

const STORAGE_MD: &str = include_str!("../../../docs/storage.md");

/// The statements of the doc's ```sql blocks, each with its comment.
fn documented_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_sql = false;
    let (mut comment, mut sql) = (String::new(), String::new());
    for line in STORAGE_MD.lines() {
        match line.trim() {
            "```sql" => in_sql = true,
            "```" if in_sql => in_sql = false,
            l if in_sql && l.starts_with("--") && sql.is_empty() => {
                comment.push_str(l.trim_start_matches("--").trim());
                comment.push(' ');
            }
            l if in_sql && !l.is_empty() => {
                sql.push_str(line);
                sql.push('\n');
                if l.ends_with(';') {
                    out.push((std::mem::take(&mut comment), std::mem::take(&mut sql)));
                }
            }
            _ => {}
        }
    }
    out
}

fn rows(db: &rusqlite::Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The distinct first columns (run names), in order.
fn run_names(rows: &[Vec<Value>]) -> Vec<Value> {
    let mut names: Vec<Value> = rows.iter().map(|r| r[0].clone()).collect();
    names.dedup();
    names
}

fn real(v: &Value) -> f64 {
    match v {
        Value::Integer(i) => *i as f64,
        Value::Real(r) => *r,
        other => panic!("not a number: {other:?}"),
    }
}

fn run_batch(s: &Sandbox, exec: &str) {
    let out = s
        .cmd(&["batch", "run", "in.csv", "--exec", exec, "--quiet"])
        .env_remove("BYKILT_METRICS_DB")
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
}

#[test]
fn the_documented_sqlite_queries_and_commands_return_what_they_say() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(5));
    // A run with one failed job, then one where every job completes.
    run_batch(&s, "test \"$BYKILT_ID\" != 3");
    run_batch(&s, "true");
    let db =
        rusqlite::Connection::open_with_flags(s.root().join("metrics.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let queries = documented_queries();
    assert!(queries.len() >= 4, "{queries:?}");
    let query = |start: &str| {
        let (_, sql) = queries
            .iter()
            .find(|(c, _)| c.starts_with(start))
            .unwrap_or_else(|| panic!("no query documented as {start:?}: {queries:?}"));
        rows(&db, sql)
    };
    for (comment, sql) in &queries {
        if !comment.starts_with("state rows") {
            assert!(!rows(&db, sql).is_empty(), "{comment}: no rows from {sql}");
        }
    }

    let per_run = query("count, sum, mean, min, max of one metric per run");
    assert_eq!(per_run.len(), 2, "{per_run:?}");
    assert!(per_run.iter().all(|r| real(&r[1]) == 5.0), "every attempt: {per_run:?}");

    let statuses = query("jobs by status per run");
    let names = run_names(&statuses);
    let total = |run: usize, status: &str| {
        statuses
            .iter()
            .find(|r| r[0] == names[run] && r[1] == Value::Text(status.into()))
            .map(|r| real(&r[2]))
    };
    assert_eq!(total(0, "completed"), Some(4.0), "{statuses:?}");
    assert_eq!(total(0, "failed"), Some(1.0), "{statuses:?}");
    assert_eq!(total(1, "completed"), Some(5.0), "{statuses:?}");
    assert_eq!(total(1, "failed"), Some(0.0), "{statuses:?}");

    // Each run's own newest totals, not only the newest run's.
    let counters = query("the latest counter totals of each run");
    assert_eq!(run_names(&counters).len(), 2, "{counters:?}");

    // The store commands' tag examples select samples.
    let failed = s
        .cmd(&[
            "metrics",
            "query",
            "job_status",
            "--all-runs",
            "--since",
            "7d",
            "--tag",
            "status=failed",
            "--json",
        ])
        .output()
        .unwrap();
    let failed: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert!(
        STORAGE_MD.contains("--tag status=failed"),
        "the doc shows the command this checks"
    );
    assert!(
        !STORAGE_MD.contains("job_duration_seconds --all-runs --since 7d --tag status="),
        "job durations have no status tag"
    );
}
