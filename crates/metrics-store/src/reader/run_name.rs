//! What a user may type for a stored run, as for a batch
//! (`batch_engine::resolve_run_id`): the run's name, `batch-<name>`, the
//! store's numeric id, or any prefix of a name that only one run has.

use crate::error::{Result, StoreError};

use super::StoreReader;

/// How many known names an "unknown run" error suggests.
const SUGGESTIONS: usize = 3;

impl StoreReader {
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
    let mut scored: Vec<(usize, &str)> = names.map(|n| (distance(n, text), n)).collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// Levenshtein distance over bytes (run names are ASCII ids).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn edit_distance() {
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
