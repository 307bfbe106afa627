//! Jobs: one per CSV row, with a status that only moves along allowed edges.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// Where a job is in its lifecycle.
///
/// ```text
/// Pending ──> Running ──> Completed
///    ^  ^        │  └───> Failed
///    │  │        └──────> Stopped ──> Running (resume)
///    │  └── retry (from Completed, Failed or Stopped)
/// ```
/// Any other change is an error, except through an explicit retry
/// ([`JobStatus::can_retry`]), which sends a finished job back to `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Not started yet.
    Pending,
    /// An attempt is in progress (or was, when the process ended).
    Running,
    /// Finished successfully. Final unless retried explicitly.
    Completed,
    /// Every attempt failed. Final unless retried explicitly.
    Failed,
    /// Interrupted by a stop request or by the end of the process; resumed
    /// by `resume_batch`.
    Stopped,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Stopped,
    ];

    /// The lower-case name (`"completed"`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Stopped => "stopped",
        }
    }

    /// Dense index (`ALL[s.index()] == s`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the status is `Completed` or `Failed`.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// Whether a run or resume picks the job up: `Pending` or `Stopped`.
    pub fn is_runnable(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Stopped)
    }

    /// Whether an ordinary status update may go from `self` to `next`.
    ///
    /// ```
    /// use batch_engine::JobStatus::*;
    /// assert!(Pending.can_transition_to(Running));
    /// assert!(Running.can_transition_to(Completed));
    /// assert!(!Completed.can_transition_to(Running));
    /// assert!(!Pending.can_transition_to(Completed));
    /// ```
    pub fn can_transition_to(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Pending, Running)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Stopped)
                | (Stopped, Running)
                | (Stopped, Pending)
        )
    }

    /// Whether an explicit retry may send the job back to `Pending`:
    /// from `Completed`, `Failed` or `Stopped`.
    pub fn can_retry(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Stopped)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a job status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a job status; expected one of pending, running, completed, failed, stopped")]
pub struct ParseJobStatusError {
    /// The rejected text.
    pub value: String,
}

impl FromStr for JobStatus {
    type Err = ParseJobStatusError;

    /// Parses a status name, ignoring ASCII case and surrounding whitespace.
    ///
    /// ```
    /// use batch_engine::JobStatus;
    /// assert_eq!(" Completed ".parse::<JobStatus>(), Ok(JobStatus::Completed));
    /// assert!("done".parse::<JobStatus>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseJobStatusError { value: s.to_owned() })
    }
}

/// A row's fields in column order, serialized as a JSON object whose keys
/// keep that order.
///
/// Compact for large batches: the values live in one string with their end
/// offsets, and the column names are shared by every row of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowData {
    columns: Arc<[String]>,
    /// One allocation per row: the end offset of each value (`u32`, little
    /// endian, one per column), then the values' text, back to back.
    data: Box<[u8]>,
}

thread_local! {
    /// The columns of the last row deserialized on this thread: the rows of
    /// one manifest share them instead of each holding its own copy.
    static LAST_COLUMNS: std::cell::RefCell<Option<Arc<[String]>>> = const { std::cell::RefCell::new(None) };
}

/// Packs values into [`RowData::data`]: `n` end offsets, then the text.
fn pack<'v>(n: usize, values: impl IntoIterator<Item = &'v str>) -> Box<[u8]> {
    let mut ends: Vec<u32> = Vec::with_capacity(n);
    let mut text: Vec<u8> = Vec::new();
    for v in values.into_iter().take(n) {
        text.extend_from_slice(v.as_bytes());
        ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
    }
    while ends.len() < n {
        ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
    }
    let mut data = Vec::with_capacity(n * 4 + text.len());
    for e in ends {
        data.extend_from_slice(&e.to_le_bytes());
    }
    data.extend_from_slice(&text);
    data.into_boxed_slice()
}

impl RowData {
    /// A row of `values` under `columns` (same length; extra values are
    /// dropped, missing ones are empty).
    pub fn new(columns: Arc<[String]>, values: Vec<String>) -> Self {
        RowData::from_values(columns, values.iter().map(String::as_str))
    }

    /// A row from borrowed values (see [`new`](Self::new)).
    pub fn from_values<'v>(columns: Arc<[String]>, values: impl IntoIterator<Item = &'v str>) -> Self {
        let data = pack(columns.len(), values);
        RowData { columns, data }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    fn end(&self, i: usize) -> usize {
        self.data
            .get(i * 4..i * 4 + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u32::from_le_bytes(b) as usize)
    }

    fn value(&self, i: usize) -> &str {
        let text = &self.data[(self.columns.len() * 4).min(self.data.len())..];
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        // The bytes were a &str when packed, cut at value boundaries.
        text.get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The values, in column order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        (0..self.columns.len()).map(|i| self.value(i))
    }

    /// The value of `column`.
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        Some(self.value(i))
    }

    /// (column, value) pairs in column order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.columns.iter().map(String::as_str).zip(self.values())
    }

    pub(crate) fn share_columns(&mut self, columns: &Arc<[String]>) {
        if *self.columns == **columns {
            self.columns = Arc::clone(columns);
        }
    }
}

impl Serialize for RowData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RowData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = RowData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of column name to string value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowData, A::Error> {
                let last = LAST_COLUMNS.with(|l| l.borrow().clone());
                let mut columns: Vec<String> = Vec::new();
                let mut same = last.is_some();
                let mut values: Vec<std::borrow::Cow<'_, str>> = Vec::new();
                while let Some((k, v)) = map.next_entry::<std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>>()? {
                    let i = values.len();
                    // Keys are only kept once they differ from the last row's.
                    if !(same && last.as_ref().and_then(|l| l.get(i)).is_some_and(|c| *c == *k)) {
                        if same {
                            same = false;
                            if let Some(l) = &last {
                                columns.extend(l.iter().take(i).cloned());
                            }
                        }
                        columns.push(k.into_owned());
                    }
                    values.push(v);
                }
                let columns: Arc<[String]> = match last {
                    Some(l) if same && l.len() == values.len() => l,
                    _ => {
                        let c: Arc<[String]> = columns.into();
                        LAST_COLUMNS.with(|l| *l.borrow_mut() = Some(Arc::clone(&c)));
                        c
                    }
                };
                Ok(RowData::from_values(columns, values.iter().map(|v| &**v)))
            }
        }
        d.deserialize_map(RowVisitor)
    }
}

/// The process group of a job's attempt in progress, as the journal records
/// it: the group id (the pid of the shell that leads it) and that process's
/// start time, so that a pid reused by an unrelated process is never taken
/// for the attempt's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProcess {
    /// The process group id (the pid of its leader; never 0).
    pub pgid: std::num::NonZeroU32,
    /// The leader's start time, in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
}

/// One job: a CSV row and its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJob {
    /// `<run_id>_0001`, numbered from 1 in row order (at least four digits).
    /// Not stored in the manifest: it follows from the run id and the row.
    #[serde(skip_serializing, default)]
    pub job_id: String,
    /// 0-based index among the data rows (its place in the manifest).
    #[serde(skip_serializing, default)]
    pub row_index: usize,
    /// The row's fields, column order kept.
    pub row_data: RowData,
    /// Current status.
    pub status: JobStatus,
    /// Attempts started so far (across runs and explicit retries).
    pub attempts: u32,
    /// The last attempt's error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<Box<str>>,
    /// When its latest attempt started.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<OffsetDateTime>,
    /// When it last completed or failed.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<OffsetDateTime>,
    /// The process group of the attempt in progress, while a runner that
    /// starts processes runs it (see [`crate::JobContext::record_process`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<JobProcess>,
    /// The attempts (1-based numbers) that were interrupted: the run that
    /// started them ended (`kill -9`, a crash) before they finished, and a
    /// later resume or retry stopped what was left of them. `None` for the
    /// jobs of a batch that never died mid-run (most), so it costs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_attempts: Option<Box<[u32]>>,
}

impl BatchJob {
    /// Whether attempt `attempt` (1-based) was interrupted.
    pub fn was_interrupted(&self, attempt: u32) -> bool {
        self.interrupted_attempts
            .as_deref()
            .is_some_and(|a| a.contains(&attempt))
    }

    /// Records its latest attempt as interrupted.
    pub(crate) fn mark_latest_interrupted(&mut self) {
        let attempt = self.attempts;
        if attempt == 0 || self.was_interrupted(attempt) {
            return;
        }
        let mut list: Vec<u32> = self.interrupted_attempts.take().map(Vec::from).unwrap_or_default();
        list.push(attempt);
        self.interrupted_attempts = Some(list.into_boxed_slice());
    }
}

/// The job id of row `row_index` (0-based) in `run_id`.
pub fn job_id_for(run_id: &str, row_index: usize) -> String {
    format!("{run_id}_{:04}", row_index + 1)
}

/// Splits `<run_id>_<n>` into the run id and the 0-based row index.
pub(crate) fn parse_job_id(job_id: &str) -> Option<(&str, usize)> {
    let (run, n) = job_id.rsplit_once('_')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = n.parse().ok()?;
    Some((run, n.checked_sub(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_round_trip() {
        assert_eq!(job_id_for("r1", 0), "r1_0001");
        assert_eq!(job_id_for("r1", 12_344), "r1_12345");
        assert_eq!(parse_job_id("r1-x_0042"), Some(("r1-x", 41)));
        assert_eq!(parse_job_id("r1_0000"), None);
        assert_eq!(parse_job_id("r1_"), None);
        assert_eq!(parse_job_id("r1_4a"), None);
    }

    #[test]
    fn row_data_keeps_column_order_in_json() {
        let cols: Arc<[String]> = vec!["z".to_owned(), "a".to_owned()].into();
        let row = RowData::new(cols, vec!["1".into(), "2".into()]);
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"z":"1","a":"2"}"#);
        let back: RowData = serde_json::from_str(&json).unwrap();
        assert_eq!(back, row);
    }
}
