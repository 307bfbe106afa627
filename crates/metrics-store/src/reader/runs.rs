//! The runs of a store: listing them with their series, and what a user
//! may type for one, as for a batch (`batch_engine::resolve_run_id`): the
//! run's name, `batch-<name>`, the store's numeric id, or any prefix of a
//! name that only one run has.

use std::collections::HashMap;

use rusqlite::OptionalExtension;

use crate::error::{Result, StoreError};

use super::{RunFilter, RunSeries, StoreReader, StoredRun};

/// How many known names an "unknown run" error suggests.
const SUGGESTIONS: usize = 3;

impl StoreReader {
    /// Every run, oldest first, with its series (with samples or aggregate
    /// snapshots) and sample counts.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn runs(&self) -> Result<Vec<StoredRun>> {
        let mut stmt = self
            .conn
            .prepare("SELECT run_id, name, started_at, ended_at, command, host FROM runs ORDER BY started_at, run_id")
            .map_err(self.err())?;
        let mut runs: Vec<StoredRun> = stmt
            .query_map([], |r| {
                Ok(StoredRun {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    started_at: r.get(2)?,
                    ended_at: r.get(3)?,
                    command: r.get(4)?,
                    host: r.get(5)?,
                    series: Vec::new(),
                    samples: 0,
                })
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.run_id, s.name, sum(c.count) FROM chunks c JOIN series s USING (series_id)
                 GROUP BY c.run_id, c.series_id ORDER BY s.name",
            )
            .map_err(self.err())?;
        let counts = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })
            .map_err(self.err())?;
        let index: HashMap<i64, usize> = runs.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        for row in counts {
            let (run, name, samples) = row.map_err(self.err())?;
            if let Some(&i) = index.get(&run) {
                let samples = u64::try_from(samples).unwrap_or(0);
                runs[i].samples += samples;
                runs[i].series.push(RunSeries { name, samples });
            }
        }
        // Series the run has aggregates of but no samples (a counter kept
        // as a total only) are listed with 0 samples.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT sn.run_id, s.name FROM aggregates a
                 JOIN snapshots sn USING (snapshot_id) JOIN series s USING (series_id)",
            )
            .map_err(self.err())?;
        let known = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?;
        for row in known {
            let (run, name) = row.map_err(self.err())?;
            if let Some(&i) = index.get(&run)
                && !runs[i].series.iter().any(|s| s.name == name)
            {
                runs[i].series.push(RunSeries { name, samples: 0 });
            }
        }
        for run in &mut runs {
            run.series.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(runs)
    }

    /// The run a filter names: `None` for every run.
    ///
    /// # Errors
    /// [`StoreError::UnknownRun`] naming a run that does not exist (with the
    /// closest names), [`StoreError::Invalid`] for a prefix several runs
    /// have, or for `Latest`, an empty store.
    pub fn resolve_run(&self, filter: &RunFilter) -> Result<Option<i64>> {
        match filter {
            RunFilter::All => Ok(None),
            RunFilter::Named(name) => self.resolve_run_name(name).map(Some),
            RunFilter::Latest => {
                let found: Option<i64> = self
                    .conn
                    .query_row(
                        "SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(self.err())?;
                match found {
                    Some(id) => Ok(Some(id)),
                    None => Err(StoreError::Invalid(format!(
                        "{}: the store has no runs yet",
                        self.path.display()
                    ))),
                }
            }
        }
    }

    /// The name of the run `filter` names: `None` for every run.
    ///
    /// # Errors
    /// As [`resolve_run`](Self::resolve_run).
    pub fn named_run(&self, filter: &RunFilter) -> Result<Option<String>> {
        let Some(id) = self.resolve_run(filter)? else {
            return Ok(None);
        };
        Ok(self.run_names()?.remove(&id))
    }

    /// The id of the run `input` names: its exact name (or numeric id),
    /// the name after a `batch-` prefix, or a prefix of either that only
    /// one stored run's name starts with.
    ///
    /// # Errors
    /// [`StoreError::UnknownRun`] (with the closest names) when no run
    /// matches, [`StoreError::Invalid`] listing the matches when several do.
    pub(crate) fn resolve_run_name(&self, input: &str) -> Result<i64> {
        let runs: Vec<(i64, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT run_id, name FROM runs ORDER BY started_at, run_id")
                .map_err(self.err())?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.err())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.err())?
        };
        let text = input.trim();
        if let Some((id, _)) = runs.iter().find(|(_, n)| n == text) {
            return Ok(*id);
        }
        if let Some((id, _)) = runs.iter().find(|(id, _)| id.to_string() == text) {
            return Ok(*id);
        }
        let bare = text.strip_prefix("batch-").unwrap_or(text);
        if let Some((id, _)) = runs.iter().find(|(_, n)| n == bare) {
            return Ok(*id);
        }
        let mut matches: Vec<&(i64, String)> = runs
            .iter()
            .filter(|(_, n)| !text.is_empty() && (n.starts_with(text) || (!bare.is_empty() && n.starts_with(bare))))
            .collect();
        matches.dedup();
        match matches.as_slice() {
            [(id, _)] => Ok(*id),
            [] => Err(StoreError::UnknownRun {
                path: self.path().to_owned(),
                input: input.to_owned(),
                closest: closest(runs.iter().map(|(_, n)| n.as_str()), bare),
            }),
            many => Err(StoreError::Invalid(format!(
                "{}: run {input:?} is ambiguous: it starts {}; give more characters",
                self.path().display(),
                many.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The names nearest to `text` (edit distance), nearest first.
fn closest<'a>(names: impl Iterator<Item = &'a str>, text: &str) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = names.map(|n| (metrics_core::edit_distance(n, text), n)).collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, n)| n.to_owned())
        .collect()
}
