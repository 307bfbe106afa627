//! Reading a manifest fast without holding its text: the jobs array is cut
//! into one slice per job, each parsed from memory.
//!
//! `serde_json::from_reader` reads a stream one byte at a time through the
//! `Read` trait, which for a million-job manifest (129 MB) is most of the
//! time `batch resume` takes to open the batch; parsing from a slice scans
//! strings in bulk. Reading the whole file into memory first would cost
//! its size in RSS, so the file is read in blocks and each job (an object
//! of some hundred bytes) is parsed from the block; a job the block's end
//! cuts is parsed again once the next block is in.
//!
//! The layout this expects is the one `BatchManifest::save` writes: an
//! object whose last member is `"jobs": [ {...}, ... ]`. Anything else
//! (another member order, a damaged file) returns `None`, and the caller
//! reads the file with `serde_json::from_reader`, which accepts any order
//! and reports errors with their line and column.

use std::io::Read;
use std::path::Path;

use crate::job::BatchJob;
use crate::manifest::BatchManifest;

/// A file read in blocks, with what is not consumed yet kept in `buf`.
struct Blocks {
    file: std::fs::File,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    block: usize,
}

const BLOCK: usize = 4 << 20;

impl Blocks {
    /// Drops what was consumed and appends the next block; false at the end
    /// of the file (or on a read error: the caller falls back then).
    fn more(&mut self) -> bool {
        if self.eof {
            return false;
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        let start = self.buf.len();
        self.buf.resize(start + self.block, 0);
        let n = self.file.read(&mut self.buf[start..]).unwrap_or(0);
        self.buf.truncate(start + n);
        if n == 0 {
            self.eof = true;
        }
        n > 0
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn peek_token(&mut self) -> Option<u8> {
        loop {
            while let Some(&b) = self.buf.get(self.pos) {
                if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    return Some(b);
                }
                self.pos += 1;
            }
            if !self.more() {
                return None;
            }
        }
    }
}

/// Where the top-level member `"jobs"` starts (its opening quote) in the
/// header `bytes`, with the index just after its `[`.
fn jobs_member(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if depth == 1 && &bytes[string_start..=i] == b"\"jobs\"" {
                    let rest = &bytes[i + 1..];
                    let colon = rest.iter().position(|c| !c.is_ascii_whitespace())?;
                    if rest[colon] != b':' {
                        continue;
                    }
                    let after = &rest[colon + 1..];
                    let open = after.iter().position(|c| !c.is_ascii_whitespace())?;
                    if after[open] != b'[' {
                        return None;
                    }
                    return Some((string_start, i + 1 + colon + 1 + open + 1));
                }
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
    }
    None
}

/// The manifest at `path` read as described above; `None` when its layout
/// is not the expected one or anything fails (the caller reads it the slow
/// way, which reports the error).
pub(crate) fn load_fast(path: &Path) -> Option<BatchManifest> {
    load_in_blocks(path, BLOCK)
}

fn load_in_blocks(path: &Path, block: usize) -> Option<BatchManifest> {
    let mut blocks = Blocks {
        file: std::fs::File::open(path).ok()?,
        buf: Vec::with_capacity(block),
        pos: 0,
        eof: false,
        block,
    };
    // The header: every member before "jobs" (a few hundred bytes).
    let (member, open) = loop {
        if let Some(found) = jobs_member(&blocks.buf) {
            break found;
        }
        if !blocks.more() || blocks.buf.len() > 1 << 28 {
            return None;
        }
    };
    let mut header = blocks.buf[..member].to_vec();
    header.extend_from_slice(b"\"jobs\":[]}");
    let mut manifest: BatchManifest = serde_json::from_slice(&header).ok()?;
    blocks.pos = open;
    let mut jobs: Vec<BatchJob> = Vec::with_capacity(manifest.total_jobs.min(1 << 24));
    let mut first = true;
    loop {
        match blocks.peek_token()? {
            b']' => {
                blocks.pos += 1;
                break;
            }
            b',' if !first => {
                blocks.pos += 1;
                blocks.peek_token()?;
            }
            _ if first => {}
            _ => return None,
        }
        first = false;
        // A job cut by the end of the buffer fails with an end-of-input
        // error: read more and parse it again (once per block).
        let (job, used) = loop {
            if blocks.buf.get(blocks.pos) != Some(&b'{') {
                return None;
            }
            let mut one = serde_json::Deserializer::from_slice(&blocks.buf[blocks.pos..]).into_iter::<BatchJob>();
            match one.next() {
                Some(Ok(job)) => break (job, one.byte_offset()),
                Some(Err(e)) if e.is_eof() && blocks.more() => {}
                _ => return None,
            }
        };
        jobs.push(job);
        blocks.pos += used;
    }
    // Only the object's closing brace may follow.
    if blocks.peek_token()? != b'}' {
        return None;
    }
    blocks.pos += 1;
    if blocks.peek_token().is_some() {
        return None;
    }
    manifest.jobs = jobs;
    Some(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{"batch_id":"batch-r","run_id":"r","csv_path":"jobs \"a\" {x}.csv",
      "columns":["id","note"],"total_jobs":3,"completed_jobs":1,"failed_jobs":1,
      "created_at":"2026-12-02T00:49:19.834712828Z","journal_seq":7,"jobs" : [
        {"row_data":{"id":"0","note":"}],{\"jobs\":[ \\"},"status":"completed","attempts":1,
         "started_at":"2026-12-02T00:49:21.682596958Z","completed_at":"2026-12-02T00:49:21.691278022Z"},
        {"row_data":{"id":"1","note":"caf\u00e9 \ud83d\ude00"},"status":"failed","attempts":3,"error_message":"exit 1"} ,
        {"row_data":{"id":"2","note":""},"status":"pending","attempts":0}
      ] }
    "#;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_fast_reader_reads_what_serde_json_reads() {
        let (_dir, path) = write(MANIFEST);
        let fast = load_fast(&path).unwrap();
        let slow: BatchManifest = serde_json::from_str(MANIFEST).unwrap();
        assert_eq!(fast, slow);
        // Blocks that end anywhere: inside strings, escapes, between jobs.
        for block in 1..=17 {
            assert_eq!(load_in_blocks(&path, block).as_ref(), Some(&slow), "blocks of {block}");
        }
        assert_eq!(fast.jobs.len(), 3);
        assert_eq!(fast.csv_path, std::path::PathBuf::from("jobs \"a\" {x}.csv"));
    }

    #[test]
    fn a_manifest_of_another_layout_or_damaged_is_left_to_the_stream_reader() {
        // "jobs" not last, a truncated file, trailing data, an empty array.
        let moved = MANIFEST
            .replacen(r#""journal_seq":7,"#, "", 1)
            .replacen(" ] }", r#" ], "journal_seq":7 }"#, 1);
        assert!(serde_json::from_str::<BatchManifest>(&moved).is_ok());
        let (_d1, p1) = write(&moved);
        assert_eq!(load_fast(&p1), None);
        let (_d2, p2) = write(&MANIFEST[..MANIFEST.len() / 2]);
        assert_eq!(load_fast(&p2), None);
        let (_d3, p3) = write(&format!("{MANIFEST}x"));
        assert_eq!(load_fast(&p3), None);
        let empty = r#"{"batch_id":"b","run_id":"r","csv_path":"c","columns":[],"total_jobs":0,"completed_jobs":0,
            "failed_jobs":0,"created_at":"2026-12-02T00:49:19Z","jobs":[]}"#;
        let (_d4, p4) = write(empty);
        assert_eq!(load_fast(&p4).unwrap().jobs.len(), 0);
    }

    #[test]
    fn the_jobs_member_is_found_at_the_top_level_only() {
        let text = br#"{"x":{"jobs":[]},"s":"\"jobs\":[","jobs" : [ {}]}"#;
        let (member, open) = jobs_member(text).unwrap();
        assert_eq!(&text[member..open], br#""jobs" : ["#);
    }
}
