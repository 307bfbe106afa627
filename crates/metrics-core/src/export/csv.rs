//! CSV export: one file per series, `timestamp,value,<sorted tag keys>`.
//!
//! File names come from series names through
//! [`csv_file_stem`](super::csv_file_stem): nothing is written outside the
//! target directory, no series overwrites another's file, and a series'
//! file name depends on its own name only.
//! Text cells starting with `=`, `+`, `-`, `@`, tab or carriage return are
//! prefixed with `'` so spreadsheets do not evaluate them as formulas; the
//! numeric `value` column is written as a plain number.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;

use super::durable::replace_dir;
use super::files::csv_file_stem;
use crate::error::{MetricsError, Result};
use crate::snapshot::{SeriesSnapshot, Snapshot};

/// Escapes a text cell against spreadsheet formula injection.
pub fn escape_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Encodes one series' retained samples as CSV.
///
/// # Errors
/// [`MetricsError::Csv`] if the writer fails (it writes to memory, so only
/// on a bug).
pub fn encode_series(series: &SeriesSnapshot) -> Result<Vec<u8>> {
    let keys: BTreeSet<&str> = series.samples.iter().flat_map(|v| v.tags.keys()).collect();
    let csv_err = |source| MetricsError::Csv {
        series: series.name.clone(),
        source,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<std::borrow::Cow<'_, str>> = vec!["timestamp".into(), "value".into()];
    header.extend(keys.iter().map(|k| escape_cell(k)));
    w.write_record(header.iter().map(|c| c.as_bytes())).map_err(csv_err)?;
    let mut row: Vec<String> = Vec::with_capacity(keys.len() + 2);
    for v in &series.samples {
        row.clear();
        row.push(v.timestamp.format(&Rfc3339).unwrap_or_default());
        row.push(v.value.to_string());
        row.extend(
            keys.iter()
                .map(|k| escape_cell(v.tags.get(k).unwrap_or("")).into_owned()),
        );
        w.write_record(&row).map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| csv_err(csv::Error::from(e.into_error())))
}

/// Writes one `<stem>.csv` per series of `snapshot` into `dir` and returns
/// the paths, in series-name order. The stem is
/// [`csv_file_stem`](super::csv_file_stem) of the series name: it depends on
/// that name only.
///
/// One export replaces the whole directory: the files are written into a
/// new sibling directory, synced, and swapped in for `dir` (see
/// `replace_dir`), so a reader never sees files of two exports side by side
/// and files of series that no longer exist disappear. An existing `dir`
/// that holds anything other than CSV files is refused.
///
/// # Errors
/// [`MetricsError::Io`] naming the directory or file that could not be
/// written; `dir` keeps the previous export then.
pub fn write_dir(snapshot: &Snapshot, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut stems = Vec::with_capacity(snapshot.series.len());
    replace_dir(dir, |staging| {
        let mut written = Vec::with_capacity(snapshot.series.len());
        for series in &snapshot.series {
            let stem = csv_file_stem(&series.name);
            let path = staging.join(format!("{stem}.csv"));
            let bytes = encode_series(series)?;
            File::create_new(&path)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(|e| MetricsError::io("writing", &path, e))?;
            written.push(path);
            stems.push(stem);
        }
        Ok(written)
    })?;
    Ok(stems.iter().map(|stem| dir.join(format!("{stem}.csv"))).collect())
}
