//! What a user may type for a batch or a run: `batch-<run_id>`, `<run_id>`,
//! or any unambiguous prefix of either (as git takes a prefix of a commit
//! hash), resolved against the runs under an artifacts root.

use std::path::Path;

use crate::error::{BatchError, Result};
use crate::run_context::{list_runs, validate_run_id};

/// How many known ids an "unknown id" error suggests.
const SUGGESTIONS: usize = 3;

/// The run id that `input` names under `root`: `batch-<run_id>`,
/// `<run_id>`, or a prefix of either that only one run under `root` has.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir_all(dir.path().join("runs/20261201-101010-000001-abcd")).unwrap();
/// for input in ["batch-20261201-101010-000001-abcd", "20261201-101010-000001-abcd", "2026120", "batch-2026"] {
///     assert_eq!(batch_engine::resolve_run_id(dir.path(), input).unwrap(), "20261201-101010-000001-abcd");
/// }
/// assert!(batch_engine::resolve_run_id(dir.path(), "2025").is_err());
/// ```
///
/// # Errors
/// [`BatchError::InvalidId`] for text that cannot be part of a run id;
/// [`BatchError::UnknownRun`] (listing the closest known ids) when no run
/// matches; [`BatchError::AmbiguousId`] (listing the matches) when several do.
pub fn resolve_run_id(root: &Path, input: &str) -> Result<String> {
    let text = input.trim();
    let text = text.strip_prefix("batch-").unwrap_or(text);
    if text.is_empty() {
        return Err(BatchError::InvalidId {
            kind: "batch",
            value: input.to_owned(),
            reason: "it is empty; `bykilt batch list` shows the batches",
        });
    }
    validate_run_id(text).map_err(|_| BatchError::InvalidId {
        kind: "batch",
        value: input.to_owned(),
        reason: "batch ids look like batch-<run_id>, <run_id>, or a prefix of one (letters, digits and '-')",
    })?;
    let runs = list_runs(root)?;
    if runs.iter().any(|r| r == text) {
        return Ok(text.to_owned());
    }
    let matches: Vec<&String> = runs.iter().filter(|r| r.starts_with(text)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(BatchError::UnknownRun {
            input: input.to_owned(),
            root: root.to_path_buf(),
            closest: closest(&runs, text),
        }),
        many => Err(BatchError::AmbiguousId {
            input: input.to_owned(),
            matches: many.iter().map(|r| crate::batch_id_for(r)).collect(),
        }),
    }
}

/// `batch-<run_id>` of [`resolve_run_id`].
///
/// # Errors
/// As [`resolve_run_id`].
pub fn resolve_batch_id(root: &Path, input: &str) -> Result<String> {
    resolve_run_id(root, input).map(|r| crate::batch_id_for(&r))
}

/// The known batch ids nearest to `text` (edit distance), nearest first.
fn closest(runs: &[String], text: &str) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = runs.iter().map(|r| (metrics_core::edit_distance(r, text), r)).collect();
    scored.sort();
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, r)| crate::batch_id_for(r))
        .collect()
}
