//! Reading a batch's input CSV: checks on the path, size and encoding, then
//! the header and rows, with errors that name the file and line.

use std::path::{Path, PathBuf};

use crate::error::CsvError;

/// The field delimiter of an input CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delimiter {
    /// Pick `,`, `;` or tab: whichever occurs most often in the header line
    /// (outside quotes); `,` on a tie or when none occurs.
    #[default]
    Auto,
    /// Always this byte.
    Fixed(u8),
}

/// How [`parse_csv`] reads a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Larger files are rejected before they are read (default 256 MiB).
    pub max_file_size: u64,
    /// The field delimiter (default: auto-detected).
    pub delimiter: Delimiter,
    /// Skip rows whose fields are all empty (default true). Blank lines are
    /// always skipped.
    pub skip_empty_rows: bool,
    /// When set, the file must resolve (after following symlinks and `..`)
    /// to a path inside this directory.
    pub allowed_root: Option<PathBuf>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            max_file_size: 256 * 1024 * 1024,
            delimiter: Delimiter::Auto,
            skip_empty_rows: true,
            allowed_root: None,
        }
    }
}

/// One data row: its fields in header order and where it starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// 1-based line where the row starts.
    pub line: u64,
    /// The fields, in header order.
    pub values: Vec<String>,
}

/// A parsed input: header and data rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvTable {
    /// The path read.
    pub path: PathBuf,
    /// The delimiter used.
    pub delimiter: u8,
    /// Column names, in file order; unique and non-empty.
    pub columns: Vec<String>,
    /// Data rows (at least one).
    pub rows: Vec<CsvRow>,
}

/// Reads `path` as a CSV with a header row.
///
/// A UTF-8 byte-order mark is stripped; quoted fields may hold delimiters,
/// quotes (`""`) and newlines. Column names are trimmed of surrounding
/// whitespace; values are kept byte for byte.
///
/// # Errors
/// A [`CsvError`] naming the file (and line where it applies): missing file,
/// directory, outside the allowed root, over the size limit, empty, header
/// only, not UTF-8 (with byte offset), empty or duplicate column names, a row
/// whose field count differs from the header's.
///
/// ```
/// use batch_engine::{parse_csv, CsvOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("in.csv");
/// std::fs::write(&path, "\u{feff}name;city\nAda;\"London; UK\"\n").unwrap();
/// let table = parse_csv(&path, &CsvOptions::default()).unwrap();
/// assert_eq!(table.columns, ["name", "city"]);
/// assert_eq!(table.rows[0].values, ["Ada", "London; UK"]);
/// ```
pub fn parse_csv(path: &Path, options: &CsvOptions) -> Result<CsvTable, CsvError> {
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let delimiter = for_each_row(
        path,
        options,
        |c| {
            columns = c.to_vec();
            Ok(())
        },
        |line, record| {
            rows.push(CsvRow {
                line,
                values: record.iter().map(str::to_owned).collect(),
            });
            Ok(())
        },
    )
    .map_err(|e| match e {
        crate::BatchError::Csv(c) => c,
        other => CsvError::Malformed {
            path: path.to_path_buf(),
            line: 0,
            message: other.to_string(),
        },
    })?;
    Ok(CsvTable {
        path: path.to_path_buf(),
        delimiter,
        columns,
        rows,
    })
}

/// Where [`Utf8Checked`] found the first byte that is not UTF-8.
#[derive(Debug)]
struct NotUtf8At {
    line: u64,
    byte_offset: usize,
}

impl std::fmt::Display for NotUtf8At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not UTF-8 at byte {}", self.byte_offset)
    }
}

impl std::error::Error for NotUtf8At {}

/// A reader that checks that what passes through is UTF-8, as it streams
/// (a sequence split between two reads is checked when it completes), and
/// drops a leading byte-order mark.
struct Utf8Checked<R> {
    inner: R,
    /// Bytes passed on so far (after the BOM).
    offset: usize,
    /// Newlines among them.
    lines: u64,
    /// The start of a multi-byte sequence cut by the end of the last read.
    pending: Vec<u8>,
    at_start: bool,
    bom: usize,
}

impl<R: std::io::Read> Utf8Checked<R> {
    fn check(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let owned;
        let data: &[u8] = if self.pending.is_empty() {
            chunk
        } else {
            let mut d = std::mem::take(&mut self.pending);
            d.extend_from_slice(chunk);
            owned = d;
            &owned
        };
        // `offset` already counts this chunk: `data` starts this far in.
        let base = self.offset - data.len();
        let (valid, bad) = match std::str::from_utf8(data) {
            Ok(_) => (data.len(), false),
            Err(e) if e.error_len().is_none() => (e.valid_up_to(), false),
            Err(e) => (e.valid_up_to(), true),
        };
        self.lines += data[..valid].iter().filter(|&&b| b == b'\n').count() as u64;
        if bad {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                NotUtf8At {
                    line: self.lines + 1,
                    byte_offset: base + valid + self.bom,
                },
            ));
        }
        self.pending = data[valid..].to_vec();
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for Utf8Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        if self.at_start && n > 0 {
            self.at_start = false;
            if buf[..n].starts_with(b"\xEF\xBB\xBF") {
                buf.copy_within(3..n, 0);
                n -= 3;
                self.bom = 3;
            }
        }
        if n == 0 && !self.pending.is_empty() {
            let at = self.offset - self.pending.len() + self.bom;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                NotUtf8At {
                    line: self.lines + 1,
                    byte_offset: at,
                },
            ));
        }
        self.offset += n;
        self.check(&buf[..n])?;
        Ok(n)
    }
}

/// Streams `path` as a CSV with a header row: checks the path, size and
/// header, then hands each data row (its 1-based line and fields) to
/// `on_row`, without holding the file in memory. Returns the delimiter
/// used. Errors are as [`parse_csv`]'s, or the first error of a callback.
pub(crate) fn for_each_row(
    path: &Path,
    options: &CsvOptions,
    mut on_header: impl FnMut(&[String]) -> Result<(), crate::BatchError>,
    mut on_row: impl FnMut(u64, &csv::StringRecord) -> Result<(), crate::BatchError>,
) -> Result<u8, crate::BatchError> {
    use std::io::{BufRead, Read};
    let size = check_path(path, options)?;
    let io = |source| CsvError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file.take(options.max_file_size.saturating_add(1)));
    let head = reader.fill_buf().map_err(io)?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let delimiter = match options.delimiter {
        Delimiter::Fixed(b) => b,
        Delimiter::Auto => detect_delimiter(&String::from_utf8_lossy(head)),
    };
    let checked = Utf8Checked {
        inner: reader,
        offset: 0,
        lines: 0,
        pending: Vec::new(),
        at_start: true,
        bom: 0,
    };
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(checked);
    let failed = |e: csv::Error| -> CsvError {
        let line = e.position().map_or(0, csv::Position::line);
        let message = e.to_string();
        if let csv::ErrorKind::Io(io_err) = e.into_kind() {
            if let Some(at) = io_err.get_ref().and_then(|r| r.downcast_ref::<NotUtf8At>()) {
                return CsvError::NotUtf8 {
                    path: path.to_path_buf(),
                    line: at.line,
                    byte_offset: at.byte_offset,
                };
            }
            return CsvError::Io {
                path: path.to_path_buf(),
                source: io_err,
            };
        }
        CsvError::Malformed {
            path: path.to_path_buf(),
            line,
            message,
        }
    };
    let mut record = csv::StringRecord::new();
    let mut columns: Option<Vec<String>> = None;
    let mut rows = 0usize;
    let mut blank_header = false;
    while csv_reader.read_record(&mut record).map_err(failed)? {
        let line = record.position().map_or(0, csv::Position::line);
        let Some(cols) = &columns else {
            if record.iter().all(|f| f.trim().is_empty()) {
                blank_header = true;
            }
            let cols = check_header(path, &record);
            match cols {
                Ok(c) => {
                    on_header(&c)?;
                    columns = Some(c);
                }
                Err(e) => {
                    // A file of blanks only is empty, not a bad header.
                    if blank_header {
                        let mut rest = csv::StringRecord::new();
                        while csv_reader.read_record(&mut rest).map_err(failed)? {
                            if !rest.iter().all(|f| f.trim().is_empty()) {
                                return Err(e.into());
                            }
                        }
                        return Err(CsvError::Empty {
                            path: path.to_path_buf(),
                        }
                        .into());
                    }
                    return Err(e.into());
                }
            }
            continue;
        };
        if options.skip_empty_rows && record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != cols.len() {
            return Err(CsvError::RaggedRow {
                path: path.to_path_buf(),
                line,
                expected: cols.len(),
                found: record.len(),
            }
            .into());
        }
        on_row(line, &record)?;
        rows += 1;
    }
    let read = csv_reader.position().byte();
    // The file may have grown past the limit since it was checked.
    if read > options.max_file_size {
        return Err(CsvError::TooLarge {
            path: path.to_path_buf(),
            size: read.max(size),
            limit: options.max_file_size,
        }
        .into());
    }
    if columns.is_none() {
        return Err(CsvError::Empty {
            path: path.to_path_buf(),
        }
        .into());
    }
    if rows == 0 {
        return Err(CsvError::HeaderOnly {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(delimiter)
}

/// Checks the path (exists, not a directory, inside the allowed root) and
/// the size; returns the size.
fn check_path(path: &Path, options: &CsvOptions) -> Result<u64, CsvError> {
    let io = |source| CsvError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CsvError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    if meta.is_dir() {
        return Err(CsvError::Directory {
            path: path.to_path_buf(),
        });
    }
    if let Some(root) = &options.allowed_root {
        let resolved = path.canonicalize().map_err(io)?;
        let root = root.canonicalize().map_err(|source| CsvError::Io {
            path: root.clone(),
            source,
        })?;
        if !resolved.starts_with(&root) {
            return Err(CsvError::OutsideRoot {
                path: path.to_path_buf(),
                resolved,
                root,
            });
        }
    }
    if meta.len() > options.max_file_size {
        return Err(CsvError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit: options.max_file_size,
        });
    }
    Ok(meta.len())
}

fn check_header(path: &Path, header: &csv::StringRecord) -> Result<Vec<String>, CsvError> {
    let mut columns: Vec<String> = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            return Err(CsvError::EmptyColumnName {
                path: path.to_path_buf(),
                column: i + 1,
            });
        }
        if columns.iter().any(|c| c == name) {
            return Err(CsvError::DuplicateColumn {
                path: path.to_path_buf(),
                name: name.to_owned(),
            });
        }
        columns.push(name.to_owned());
    }
    Ok(columns)
}

/// The most frequent of `,` `;` tab in the first line (outside quotes).
fn detect_delimiter(text: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for b in text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

#[cfg(test)]
mod tests {
    use super::detect_delimiter;

    #[test]
    fn delimiter_detection() {
        assert_eq!(detect_delimiter("a,b,c\n1;2;3;4;5\n"), b',');
        assert_eq!(detect_delimiter("a;b\n"), b';');
        assert_eq!(detect_delimiter("a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter("\"a,b,c\";d;e\n"), b';');
        assert_eq!(detect_delimiter("single\n"), b',');
    }
}
