//! `SendPositions`: where a remote-write or OTLP sender of one run stands
//! with one receiver, kept in the store (table `send_positions`) so that a
//! sender restarted after a crash resumes where the receiver's
//! acknowledgements left it.
//!
//! Per (run, receiver, series) a row holds `acked`, the newest timestamp
//! the receiver acknowledged, and `in_flight`, the timestamp the batch
//! being posted would move it to. Acknowledging clears every `in_flight`
//! of the receiver, so rows with `in_flight` set name exactly the batch a
//! crash interrupted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::params;

use crate::db::WriteDb;
use crate::error::Result;
use crate::reader::StoreReader;
use crate::writer::{RunId, lock_db};

/// The newest timestamp per series key (the sender's own unit and keys).
pub type Positions = HashMap<String, i64>;

/// The send positions of one run and one receiver, written through the
/// store's one writer connection (so a running batch's sender needs no
/// second writer). Cheap to clone; any thread may use it.
#[derive(Debug, Clone)]
pub struct SendPositions {
    db: Arc<Mutex<WriteDb>>,
    run: RunId,
    target: String,
}

impl SendPositions {
    pub(crate) fn new(db: Arc<Mutex<WriteDb>>, run: RunId, target: &str) -> SendPositions {
        SendPositions {
            db,
            run,
            target: target.to_owned(),
        }
    }

    /// Every acknowledged position (empty when nothing was sent yet).
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn acknowledged(&self) -> Result<Positions> {
        let db = lock_db(&self.db);
        select(&db.conn, self.run.0, &self.target, "acked").map_err(db.err())
    }

    /// The positions of the batch that was being posted when its sender
    /// stopped without an acknowledgement; `None` when there is none.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn in_flight(&self) -> Result<Option<Positions>> {
        let db = lock_db(&self.db);
        let p = select(&db.conn, self.run.0, &self.target, "in_flight").map_err(db.err())?;
        Ok((!p.is_empty()).then_some(p))
    }

    /// Moves the acknowledged positions to `updates` (a series never moves
    /// back) and clears the in-flight record, in one transaction.
    ///
    /// # Errors
    /// An SQLite error naming the file; nothing is changed then.
    pub fn acknowledge(&self, updates: &Positions) -> Result<()> {
        let db = lock_db(&self.db);
        let write = || -> rusqlite::Result<()> {
            db.conn.execute_batch("BEGIN IMMEDIATE")?;
            {
                let mut stmt = db.conn.prepare_cached(
                    "INSERT INTO send_positions (run_id, target, series, acked) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (run_id, target, series)
                     DO UPDATE SET acked = max(coalesce(acked, excluded.acked), excluded.acked)",
                )?;
                for (series, ts) in updates {
                    stmt.execute(params![self.run.0, self.target, series, ts])?;
                }
            }
            db.conn.execute(
                "UPDATE send_positions SET in_flight = NULL WHERE run_id = ?1 AND target = ?2 AND in_flight IS NOT NULL",
                params![self.run.0, self.target],
            )?;
            db.conn.execute_batch("COMMIT")
        };
        write().map_err(|e| {
            let _ = db.conn.execute_batch("ROLLBACK");
            db.err()(e)
        })
    }

    /// Records the positions the batch about to be posted would move to,
    /// replacing any earlier in-flight record, in one transaction.
    ///
    /// # Errors
    /// An SQLite error naming the file; nothing is changed then.
    pub fn set_in_flight(&self, updates: &Positions) -> Result<()> {
        let db = lock_db(&self.db);
        let write = || -> rusqlite::Result<()> {
            db.conn.execute_batch("BEGIN IMMEDIATE")?;
            db.conn.execute(
                "UPDATE send_positions SET in_flight = NULL WHERE run_id = ?1 AND target = ?2 AND in_flight IS NOT NULL",
                params![self.run.0, self.target],
            )?;
            {
                let mut stmt = db.conn.prepare_cached(
                    "INSERT INTO send_positions (run_id, target, series, in_flight) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (run_id, target, series) DO UPDATE SET in_flight = excluded.in_flight",
                )?;
                for (series, ts) in updates {
                    stmt.execute(params![self.run.0, self.target, series, ts])?;
                }
            }
            db.conn.execute_batch("COMMIT")
        };
        write().map_err(|e| {
            let _ = db.conn.execute_batch("ROLLBACK");
            db.err()(e)
        })
    }
}

fn select(conn: &rusqlite::Connection, run: i64, target: &str, column: &str) -> rusqlite::Result<Positions> {
    let sql = format!(
        "SELECT series, {column} FROM send_positions WHERE run_id = ?1 AND target = ?2 AND {column} IS NOT NULL"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![run, target], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    rows.collect()
}

impl StoreReader {
    /// The acknowledged send positions of run `run` (its name) with
    /// receiver `target`; empty when the run or receiver has none.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn send_positions(&self, run: &str, target: &str) -> Result<Positions> {
        let id: Option<i64> = {
            use rusqlite::OptionalExtension;
            self.conn
                .query_row("SELECT run_id FROM runs WHERE name = ?1", [run], |r| r.get(0))
                .optional()
                .map_err(self.err())?
        };
        match id {
            Some(id) => select(&self.conn, id, target, "acked").map_err(self.err()),
            None => Ok(Positions::new()),
        }
    }
}
