//! The `invsync` binary as a user runs it: pipes, exit statuses and error lines.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn invsync(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invsync"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run invsync");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sample_encode_decode_round_trips_every_kind_and_method() {
    for kind in ["small", "bp"] {
        let sample = invsync(&["sample", "--kind", kind, "--seed", "4"], b"");
        assert!(sample.status.success());
        // about 1 kB for small in format 2: more than one frame of 700 bytes either way
        assert!(sample.stdout.len() > 900);
        for method in ["auto", "raw", "lz4", "zlib"] {
            let frames = invsync(
                &["frames", "encode", "--method", method, "--max-frame", "700"],
                &sample.stdout,
            );
            assert!(
                frames.status.success(),
                "{kind}/{method}: {}",
                stderr(&frames)
            );
            // Reverse the frames: order must not matter.
            let mut lines: Vec<&[u8]> = frames
                .stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            lines.reverse();
            let reversed = lines.join(&b'\n');
            let decoded = invsync(&["frames", "decode"], &reversed);
            assert!(
                decoded.status.success(),
                "{kind}/{method}: {}",
                stderr(&decoded)
            );
            assert_eq!(decoded.stdout, sample.stdout, "{kind}/{method}");
        }
    }
}

#[test]
fn bad_lines_are_reported_with_their_line_number_and_good_messages_survive() {
    let a = invsync(&["frames", "encode", "--id", "7", "--max-frame", "200"], b"payload seven, long enough to take several frames of 200 bytes each ..................................................................................................");
    let b = invsync(
        &["frames", "encode", "--id", "8", "--max-frame", "200"],
        b"payload eight",
    );
    let mut input = Vec::new();
    input.extend_from_slice(b"[CHAT] bob: not a frame\n");
    input.extend_from_slice(&a.stdout);
    let mut corrupted = b.stdout.clone();
    let n = corrupted.len() - 2;
    corrupted[n] ^= 1;
    input.extend_from_slice(&corrupted);
    let dir = tempfile::tempdir().unwrap();
    let out = invsync(
        &["frames", "decode", "--out", dir.path().to_str().unwrap()],
        &input,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("invsync: line 1: NotAFrame"), "{err}");
    assert!(
        lines[1].contains("FrameChecksumMismatch") && lines[1].contains("message 8"),
        "{err}"
    );
    let seven = std::fs::read(dir.path().join("7.payload")).unwrap();
    assert!(seven.starts_with(b"payload seven"));
    assert!(!dir.path().join("8.payload").exists());
}

/// The payloads `decode --out DIR` wrote, sorted by content.
fn payloads_in(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files
}

#[test]
fn payloads_encoded_separately_get_distinct_ids_and_all_survive_decode_out() {
    let a = invsync(&["frames", "encode"], b"first payload");
    let b = invsync(&["frames", "encode"], b"second payload");
    assert!(a.status.success() && b.status.success());
    // the default id is the payload's CRC-32
    let id_a = crc32fast::hash(b"first payload");
    let header_id = |o: &Output| -> String {
        let line = String::from_utf8_lossy(&o.stdout).into_owned();
        line.split(' ').nth(2).unwrap().to_string()
    };
    assert_eq!(header_id(&a), id_a.to_string());
    assert_ne!(header_id(&a), header_id(&b));
    let dir = tempfile::tempdir().unwrap();
    let out = invsync(
        &["frames", "decode", "--out", dir.path().to_str().unwrap()],
        &[a.stdout, b.stdout].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = payloads_in(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        files[0],
        (format!("{id_a}.payload"), b"first payload".to_vec())
    );
    assert_eq!(files[1].1, b"second payload");
}

#[test]
fn decode_out_never_overwrites_a_file_and_says_where_it_wrote() {
    let a = invsync(&["frames", "encode", "--id", "5"], b"five, the first");
    let b = invsync(&["frames", "encode", "--id", "5"], b"five, the second");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = invsync(
        &["frames", "decode", "--out", d],
        &[a.stdout.clone(), b.stdout].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("message 5:")
            && err.contains("5.payload exists")
            && err.contains("5-2.payload"),
        "{err}"
    );
    let files = payloads_in(dir.path());
    assert_eq!(
        files,
        vec![
            ("5.payload".to_string(), b"five, the first".to_vec()),
            ("5-2.payload".to_string(), b"five, the second".to_vec()),
        ]
    );
    // a later run does not overwrite what an earlier one wrote either
    let again = invsync(&["frames", "decode", "--out", d], &a.stdout);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("5-3.payload"), "{}", stderr(&again));
    assert_eq!(payloads_in(dir.path()).len(), 3);
}

#[test]
fn an_incomplete_message_is_an_error_at_the_end() {
    let frames = invsync(
        &["frames", "encode", "--max-frame", "100", "--method", "raw"],
        &[b'x'; 500],
    );
    let first_only: Vec<u8> = frames
        .stdout
        .split(|&b| b == b'\n')
        .next()
        .unwrap()
        .to_vec();
    let out = invsync(&["frames", "decode"], &first_only);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Incomplete"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn stdout_marker_and_crlf_are_accepted() {
    let frames = invsync(&["frames", "encode"], b"{\"a\":1}");
    let line = format!(
        "\x0c{}\r\n",
        String::from_utf8(frames.stdout).unwrap().trim_end()
    );
    let out = invsync(&["frames", "decode"], line.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"{\"a\":1}");
}

#[test]
fn encode_refuses_what_it_cannot_do_with_status_2() {
    let out = invsync(
        &["frames", "encode", "--method", "raw"],
        b"line one\nline two",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("RawUnrepresentable"),
        "{}",
        stderr(&out)
    );
    let out = invsync(&["frames", "encode", "--max-frame", "20"], b"abc");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("FrameTooSmall"), "{}", stderr(&out));
    let out = invsync(
        &["frames", "encode", "--method", "lz4", "--caps", "raw,zlib"],
        b"abc",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("NoAcceptableMethod"),
        "{}",
        stderr(&out)
    );
    let out = invsync(&["frames", "encode", "--method", "gzip"], b"abc");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_tables_every_line_with_a_verdict() {
    let frames = invsync(
        &[
            "frames",
            "encode",
            "--max-frame",
            "100",
            "--method",
            "raw",
            "--id",
            "3",
        ],
        &[b'y'; 200],
    );
    let mut input = frames.stdout.clone();
    input.extend_from_slice(b"garbage\n");
    let out = invsync(&["frames", "inspect"], &input);
    assert_eq!(out.status.code(), Some(2));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("verdict"));
    assert!(table.contains("message 3 complete: 200 bytes"), "{table}");
    assert!(table.contains("NotAFrame"), "{table}");
}

#[test]
fn long_lines_are_refused_without_being_held() {
    let mut input = vec![b'I'; 300_000];
    input.push(b'\n');
    let out = invsync(&["frames", "decode"], &input);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("FrameTooLong"), "{}", stderr(&out));
}
