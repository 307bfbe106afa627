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
    let bytes = read_checked(path, options)?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            return Err(CsvError::NotUtf8 {
                path: path.to_path_buf(),
                line,
                byte_offset: offset,
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(CsvError::Empty {
            path: path.to_path_buf(),
        });
    }
    let delimiter = match options.delimiter {
        Delimiter::Fixed(b) => b,
        Delimiter::Auto => detect_delimiter(text),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let malformed = |e: csv::Error| CsvError::Malformed {
        path: path.to_path_buf(),
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    };
    let header = match records.next() {
        Some(r) => r.map_err(malformed)?,
        None => {
            return Err(CsvError::Empty {
                path: path.to_path_buf(),
            });
        }
    };
    let columns = check_header(path, &header)?;
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(malformed)?;
        let line = record.position().map_or(0, csv::Position::line);
        if options.skip_empty_rows && record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != columns.len() {
            return Err(CsvError::RaggedRow {
                path: path.to_path_buf(),
                line,
                expected: columns.len(),
                found: record.len(),
            });
        }
        rows.push(CsvRow {
            line,
            values: record.iter().map(str::to_owned).collect(),
        });
    }
    if rows.is_empty() {
        return Err(CsvError::HeaderOnly {
            path: path.to_path_buf(),
        });
    }
    Ok(CsvTable {
        path: path.to_path_buf(),
        delimiter,
        columns,
        rows,
    })
}

fn read_checked(path: &Path, options: &CsvOptions) -> Result<Vec<u8>, CsvError> {
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
    let bytes = std::fs::read(path).map_err(io)?;
    // The file may have grown between the metadata call and the read.
    if bytes.len() as u64 > options.max_file_size {
        return Err(CsvError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: options.max_file_size,
        });
    }
    Ok(bytes)
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
