//! `StoreError`: what can go wrong opening, writing or reading a store.

use std::path::PathBuf;

/// An error of the durable store. Each names the database file it is about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not an SQLite database (or is damaged).
    #[error("{path}: not a metrics database (not SQLite, or damaged): {detail}; the file was left untouched")]
    NotADatabase {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The file is an SQLite database of some other program.
    #[error("{path}: an SQLite database of another program ({reason}); the file was left untouched, pass another path")]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// Why it is not ours.
        reason: String,
    },
    /// The database was written by a newer version of this store.
    #[error(
        "{path}: schema version {found} is newer than this program's {supported}; upgrade the program (the file was left untouched)"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The database's `PRAGMA user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Another process holds the writer lock.
    #[error("{path}: already being written by {holder}; one writer at a time (readers may open it any time)")]
    Locked {
        /// The database file.
        path: PathBuf,
        /// Who holds it, as the holder wrote it into the lock file.
        holder: String,
    },
    /// The database (or its directory) cannot be written.
    #[error(
        "{path}: the database is read-only (file or directory permissions, or a read-only file system); nothing can be stored in it"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The database file does not exist (readers never create one).
    #[error("{path}: no such metrics database")]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// A stored chunk cannot be decoded.
    #[error("{path}: sample chunk {chunk_id} is damaged ({reason})")]
    CorruptChunk {
        /// The database file.
        path: PathBuf,
        /// The chunk's id.
        chunk_id: i64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No stored run has the name (or prefix) asked for.
    #[error(
        "{path}: no run {input:?} in the database{}; `bykilt metrics runs` lists them",
        suggest(closest)
    )]
    UnknownRun {
        /// The database file.
        path: PathBuf,
        /// The run as given.
        input: String,
        /// The nearest stored run names.
        closest: Vec<String>,
    },
    /// A bad argument (a run that does not exist, a malformed import).
    #[error("{0}")]
    Invalid(String),
    /// An SQLite error while using the database.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file-system error (the lock file, an import file).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn sqlite(path: &std::path::Path) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        }
    }
}

fn suggest(closest: &[String]) -> String {
    if closest.is_empty() {
        String::new()
    } else {
        format!(" (the closest: {})", closest.join(", "))
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
