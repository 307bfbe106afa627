//! CSV export: one file per series, `timestamp,value,<sorted tag keys>`,
//! and [`AGGREGATES_FILE`] with every series' tag sets, description, unit
//! and aggregate (so a counter that stayed at 0, or a series that keeps no
//! samples, is in the export too), encoded to bytes (the `persist` module
//! writes them).
//!
//! File names come from series names through
//! [`csv_file_stem`]: nothing is written outside the
//! target directory, no series overwrites another's file, and a series'
//! file name depends on its own name only.
//! Text cells starting with `=`, `+`, `-`, `@`, tab or carriage return are
//! prefixed with `'` so spreadsheets do not evaluate them as formulas; the
//! numeric `value` column is written as a plain number.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;

use super::file_names::csv_file_stem;
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

/// The file beside the per-series files that lists every series' tag sets
/// with their aggregates; no series' file has this name
/// ([`csv_file_stem`] never returns `_aggregates`).
pub const AGGREGATES_FILE: &str = "_aggregates.csv";

/// Columns of [`AGGREGATES_FILE`]: one row per tag set of every series (one
/// row with empty `tags` for a series that has none yet). `tags` is a JSON
/// object; `value` is a counter's total or a gauge's value; the
/// distribution columns are a histogram's or timer's (timers in seconds).
pub const AGGREGATES_HEADER: [&str; 13] = [
    "series",
    "type",
    "unit",
    "description",
    "tags",
    "value",
    "count",
    "sum",
    "min",
    "max",
    "p50",
    "p90",
    "p99",
];

/// Encodes [`AGGREGATES_FILE`] for `snapshot`.
///
/// # Errors
/// [`MetricsError::Csv`] if the writer fails (only on a bug: it writes to memory).
pub fn encode_aggregates(snapshot: &Snapshot) -> Result<Vec<u8>> {
    use crate::snapshot::AggregateValue;
    let csv_err = |source| MetricsError::Csv {
        series: AGGREGATES_FILE.to_owned(),
        source,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(AGGREGATES_HEADER).map_err(csv_err)?;
    for series in &snapshot.series {
        let head = [
            escape_cell(&series.name).into_owned(),
            series.metric_type.to_string(),
            escape_cell(series.unit.as_deref().unwrap_or("")).into_owned(),
            escape_cell(series.description.as_deref().unwrap_or("")).into_owned(),
        ];
        if series.aggregates.is_empty() {
            let mut row: Vec<String> = head.to_vec();
            row.resize(AGGREGATES_HEADER.len(), String::new());
            w.write_record(&row).map_err(csv_err)?;
        }
        for agg in &series.aggregates {
            let tags: serde_json::Map<String, serde_json::Value> = agg
                .tags
                .iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect();
            let mut row: Vec<String> = head.to_vec();
            row.push(escape_cell(&serde_json::Value::Object(tags).to_string()).into_owned());
            match &agg.value {
                AggregateValue::Counter { total } => {
                    row.push(total.to_string());
                    row.resize(AGGREGATES_HEADER.len(), String::new());
                }
                AggregateValue::Gauge { value } => {
                    row.push(value.to_string());
                    row.resize(AGGREGATES_HEADER.len(), String::new());
                }
                AggregateValue::Histogram(h) => {
                    row.push(String::new());
                    row.extend(
                        [
                            h.count as f64,
                            h.sum,
                            h.min,
                            h.max,
                            h.quantiles.p50,
                            h.quantiles.p90,
                            h.quantiles.p99,
                        ]
                        .iter()
                        .map(f64::to_string),
                    );
                }
            }
            w.write_record(&row).map_err(csv_err)?;
        }
    }
    w.into_inner().map_err(|e| csv_err(csv::Error::from(e.into_error())))
}

/// The CSV files of `snapshot`: one `(<stem>.csv, bytes)` per series, in
/// series-name order, with file names from
/// [`csv_file_stem`] (a function of the series name
/// only), then [`AGGREGATES_FILE`].
///
/// # Errors
/// [`MetricsError::Csv`] if encoding fails (only on a bug: it writes to memory).
pub fn encode_files(snapshot: &Snapshot) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = snapshot
        .series
        .iter()
        .map(|series| Ok((format!("{}.csv", csv_file_stem(&series.name)), encode_series(series)?)))
        .collect::<Result<Vec<_>>>()?;
    files.push((AGGREGATES_FILE.to_owned(), encode_aggregates(snapshot)?));
    Ok(files)
}

/// Writes one `<stem>.csv` per series of `snapshot` into `dir` and returns
/// the paths, in series-name order; one export replaces the whole
/// directory (see [`MetricsCollector::export_to_csv`](crate::MetricsCollector::export_to_csv)).
///
/// # Errors
/// [`MetricsError::Io`] naming the directory or file that could not be
/// written; `dir` keeps the previous export then.
#[deprecated(
    note = "exporters do not write files; use `MetricsCollector::export_to_csv`, or `encode_files` and write the bytes yourself"
)]
pub fn write_dir(snapshot: &Snapshot, dir: &Path) -> Result<Vec<PathBuf>> {
    crate::persist::write_csv_dir(snapshot, dir)
}
