//! The schema, its versions and the checks made before a file is used.
//!
//! A store is an SQLite database whose `application_id` is [`APPLICATION_ID`]
//! and whose `user_version` is the schema version. Opening a file checks,
//! in this order and before anything is written: that it is SQLite, that
//! it is ours (or empty), and that its version is not newer than ours.
//! Older versions are migrated forward, one step per transaction.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::{Result, StoreError};

/// `PRAGMA application_id` of a metrics store ("bkms").
pub const APPLICATION_ID: i64 = 0x626b_6d73;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Version 1. Timestamps are integer nanoseconds since the Unix epoch.
const V1: &str = "
CREATE TABLE runs (
    run_id     INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    command    TEXT NOT NULL DEFAULT '',
    host       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE series (
    series_id   INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    description TEXT,
    unit        TEXT
);
CREATE TABLE tag_sets (
    tag_set_id INTEGER PRIMARY KEY,
    tags       TEXT NOT NULL UNIQUE
);
CREATE TABLE chunks (
    chunk_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id  INTEGER NOT NULL,
    tag_set_id INTEGER NOT NULL,
    run_id     INTEGER NOT NULL,
    first_ts   INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    sum        REAL NOT NULL,
    min        REAL NOT NULL,
    max        REAL NOT NULL,
    data       BLOB NOT NULL
);
CREATE INDEX chunks_by_series_time ON chunks (series_id, last_ts);
CREATE INDEX chunks_by_time ON chunks (last_ts);
CREATE TABLE snapshots (
    snapshot_id INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    taken_at    INTEGER NOT NULL
);
CREATE INDEX snapshots_by_time ON snapshots (taken_at);
CREATE TABLE aggregates (
    snapshot_id INTEGER NOT NULL,
    series_id   INTEGER NOT NULL,
    tag_set_id  INTEGER NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, series_id, tag_set_id)
) WITHOUT ROWID;
CREATE TABLE state (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
";

/// Version 2: where each remote-write/OTLP sender of a run stands, per
/// receiver and series: the last acknowledged timestamp, and the one the
/// batch being posted would move it to (see `SendPositions`).
const V2: &str = "
CREATE TABLE send_positions (
    run_id    INTEGER NOT NULL,
    target    TEXT NOT NULL,
    series    TEXT NOT NULL,
    acked     INTEGER,
    in_flight INTEGER,
    PRIMARY KEY (run_id, target, series)
) WITHOUT ROWID;
";

/// Forward migrations: `MIGRATIONS[n]` takes version `n` to `n + 1`.
const MIGRATIONS: [&str; 2] = [V1, V2];

fn sqlite(path: &Path) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |source| match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.to_owned(),
            detail: source.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.to_owned(),
            source,
        },
    }
}

/// The identity of an opened file, read before anything is written.
struct Identity {
    application_id: i64,
    user_version: i64,
    tables: Vec<String>,
}

fn identity(conn: &Connection, path: &Path) -> Result<Identity> {
    let application_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(sqlite(path))?;
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite(path))?;
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .map_err(sqlite(path))?;
    let tables = stmt
        .query_map([], |r| r.get(0))
        .map_err(sqlite(path))?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(sqlite(path))?;
    Ok(Identity {
        application_id,
        user_version,
        tables,
    })
}

/// Checks that `path` holds our store (or nothing yet). Returns whether it
/// is new.
fn check(id: &Identity, path: &Path) -> Result<bool> {
    if id.application_id == 0 && id.user_version == 0 && id.tables.is_empty() {
        return Ok(true);
    }
    if id.application_id != APPLICATION_ID {
        let reason = if id.tables.is_empty() {
            format!("application id {:#x}", id.application_id)
        } else {
            format!("tables {}", id.tables.join(", "))
        };
        return Err(StoreError::Foreign {
            path: path.to_owned(),
            reason,
        });
    }
    if id.user_version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: id.user_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(false)
}

/// Settings of every connection.
fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sqlite(path))?;
    Ok(())
}

/// Opens `path` for writing: creates it when absent, refuses a file that
/// is not ours or is newer, migrates an older one, and sets WAL mode with
/// `synchronous=NORMAL`. `check_only` stops before anything is written
/// (the caller takes the writer lock in between).
pub(crate) fn open_checked(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(path))?;
    configure(&conn, path)?;
    let id = identity(&conn, path)?;
    check(&id, path)?;
    Ok(conn)
}

/// Prepares a connection from [`open_checked`] for writing (the writer
/// lock is held): a new file gets incremental auto-vacuum and the schema;
/// an older one is migrated.
pub(crate) fn prepare_writer(conn: &Connection, path: &Path) -> Result<()> {
    let id = identity(conn, path)?;
    let fresh = check(&id, path)?;
    if fresh {
        // Must precede the first table to take effect without a VACUUM.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(sqlite(path))?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sqlite(path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "{}: SQLite refused WAL mode (journal mode stays {mode}); is the file on a network file system?",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;")
        .map_err(sqlite(path))?;
    migrate(conn, path, id.user_version)
}

fn migrate(conn: &Connection, path: &Path, from: i64) -> Result<()> {
    for version in from..SCHEMA_VERSION {
        let Some(step) = usize::try_from(version).ok().and_then(|v| MIGRATIONS.get(v)) else {
            break;
        };
        let sql = format!(
            "BEGIN IMMEDIATE; {step} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {}; COMMIT;",
            version + 1
        );
        if let Err(e) = conn.execute_batch(&sql) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sqlite(path)(e));
        }
    }
    Ok(())
}

/// Opens `path` read-only for queries; refuses a missing, foreign or newer
/// file.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(StoreError::Missing { path: path.to_owned() });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite(path))?;
    configure(&conn, path)?;
    let id = identity(&conn, path)?;
    if check(&id, path)? {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
            reason: "an empty database, no store was ever written to it".to_owned(),
        });
    }
    Ok(conn)
}

/// Looks up an id by a unique text column, inserting the row when absent.
pub(crate) fn id_for(conn: &Connection, select: &str, insert: &str, key: &str) -> rusqlite::Result<i64> {
    if let Some(id) = conn.query_row(select, [key], |r| r.get(0)).optional()? {
        return Ok(id);
    }
    conn.execute(insert, [key])?;
    Ok(conn.last_insert_rowid())
}
