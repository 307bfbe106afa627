//! Every kind of bad input CSV gets an error naming the file and line; good
//! inputs keep their values byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use batch_engine::{CsvError, CsvOptions, Delimiter, parse_csv};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn parse(path: &Path) -> Result<batch_engine::CsvTable, CsvError> {
    parse_csv(path, &CsvOptions::default())
}

#[test]
fn missing_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    let e = parse(&missing).unwrap_err();
    assert!(matches!(e, CsvError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("nope.csv"), "{e}");
    let e = parse(dir.path()).unwrap_err();
    assert!(matches!(e, CsvError::Directory { .. }), "{e}");
}

#[test]
fn empty_and_header_only() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [("a.csv", &b""[..]), ("b.csv", b"\xef\xbb\xbf"), ("c.csv", b"\n\n  \n")] {
        let e = parse(&write(dir.path(), name, content)).unwrap_err();
        assert!(matches!(e, CsvError::Empty { .. }), "{name}: {e}");
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = parse(&write(dir.path(), "h.csv", b"a,b\n")).unwrap_err();
    assert!(matches!(e, CsvError::HeaderOnly { .. }), "{e}");
    // Rows that are all empty are skipped, leaving only the header.
    let e = parse(&write(dir.path(), "h2.csv", b"a,b\n,\n\n")).unwrap_err();
    assert!(matches!(e, CsvError::HeaderOnly { .. }), "{e}");
}

#[test]
fn ragged_row_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.csv", b"a,b\n1,2\n\"multi\nline\",x\n3,4,5\n");
    let e = parse(&p).unwrap_err();
    match &e {
        CsvError::RaggedRow {
            line, expected, found, ..
        } => assert_eq!((*line, *expected, *found), (5, 2, 3)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("r.csv:5"), "{e}");
}

#[test]
fn not_utf8_names_line_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "l1.csv", b"name\nok\ncaf\xe9\n");
    let e = parse(&p).unwrap_err();
    match e {
        CsvError::NotUtf8 { line, byte_offset, .. } => assert_eq!((line, byte_offset), (3, 11)),
        other => panic!("{other}"),
    }
}

#[test]
fn oversized_file_is_rejected_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "big.csv", &vec![b'x'; 2048]);
    let options = CsvOptions {
        max_file_size: 1024,
        ..CsvOptions::default()
    };
    let e = parse_csv(&p, &options).unwrap_err();
    assert!(
        matches!(
            e,
            CsvError::TooLarge {
                size: 2048,
                limit: 1024,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn path_outside_allowed_root() {
    let root = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let outside = write(other.path(), "x.csv", b"a\n1\n");
    let inside = write(root.path(), "in.csv", b"a\n1\n");
    let options = CsvOptions {
        allowed_root: Some(root.path().to_path_buf()),
        ..CsvOptions::default()
    };
    assert!(parse_csv(&inside, &options).is_ok());
    let e = parse_csv(&outside, &options).unwrap_err();
    assert!(matches!(e, CsvError::OutsideRoot { .. }), "{e}");
    // `..` cannot climb out either.
    let sneaky = root
        .path()
        .join("..")
        .join(other.path().file_name().unwrap())
        .join("x.csv");
    let e = parse_csv(&sneaky, &options).unwrap_err();
    assert!(matches!(e, CsvError::OutsideRoot { .. }), "{e}");
    // Nor can a symlink inside the root that points out of it.
    let link = root.path().join("link.csv");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let e = parse_csv(&link, &options).unwrap_err();
    assert!(matches!(e, CsvError::OutsideRoot { .. }), "{e}");
}

#[test]
fn bad_headers() {
    let dir = tempfile::tempdir().unwrap();
    let e = parse(&write(dir.path(), "d.csv", b"a,b,a\n1,2,3\n")).unwrap_err();
    assert!(
        matches!(e, CsvError::DuplicateColumn { ref name, .. } if name == "a"),
        "{e}"
    );
    let e = parse(&write(dir.path(), "e.csv", b"a,,c\n1,2,3\n")).unwrap_err();
    assert!(matches!(e, CsvError::EmptyColumnName { column: 2, .. }), "{e}");
}

#[test]
fn bom_quotes_newlines_and_delimiters() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "q.csv",
        "\u{feff}id,note\n1,\"has, comma\"\n2,\"two\nlines\"\n3,\"say \"\"hi\"\"\"\n".as_bytes(),
    );
    let t = parse(&p).unwrap();
    assert_eq!(t.columns, ["id", "note"]);
    let notes: Vec<&str> = t.rows.iter().map(|r| r.values[1].as_str()).collect();
    assert_eq!(notes, ["has, comma", "two\nlines", "say \"hi\""]);
    assert_eq!(t.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 5]);

    let semi = parse(&write(dir.path(), "s.csv", b"a;b\n1,5;2\n")).unwrap();
    assert_eq!(
        (semi.delimiter, semi.rows[0].values.clone()),
        (b';', vec!["1,5".into(), "2".into()])
    );
    let tab = parse(&write(dir.path(), "t.csv", b"a\tb\nx y\tz\n")).unwrap();
    assert_eq!(tab.rows[0].values, ["x y", "z"]);
    let fixed = parse_csv(
        &write(dir.path(), "f.csv", b"a;b,c\n1;2,3\n"),
        &CsvOptions {
            delimiter: Delimiter::Fixed(b','),
            ..CsvOptions::default()
        },
    )
    .unwrap();
    assert_eq!(fixed.columns, ["a;b", "c"]);
}

#[test]
fn empty_rows_kept_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "e.csv", b"a,b\n1,2\n,\n3,4\n");
    assert_eq!(parse(&p).unwrap().rows.len(), 2);
    let keep = CsvOptions {
        skip_empty_rows: false,
        ..CsvOptions::default()
    };
    assert_eq!(parse_csv(&p, &keep).unwrap().rows.len(), 3);
}

/// The reader streams the file: multi-byte characters cut by a read
/// boundary are fine, and a bad byte far into a large file is still named
/// by line and offset.
#[test]
fn streaming_keeps_utf8_checks_exact_across_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.csv");
    let mut text = String::from("\u{feff}name,word\n");
    for i in 0..20_000 {
        text.push_str(&format!("{i},Grüße-日本-{i}\n"));
    }
    std::fs::write(&p, &text).unwrap();
    let t = parse_csv(&p, &CsvOptions::default()).unwrap();
    assert_eq!(t.rows.len(), 20_000);
    assert_eq!(t.rows[19_999].values[1], "Grüße-日本-19999");
    let mut bytes = text.into_bytes();
    let at = bytes.len() - 5;
    bytes[at] = 0xff;
    std::fs::write(&p, &bytes).unwrap();
    match parse_csv(&p, &CsvOptions::default()).unwrap_err() {
        CsvError::NotUtf8 { line, byte_offset, .. } => assert_eq!((line, byte_offset), (20_001, at)),
        other => panic!("{other}"),
    }
}
