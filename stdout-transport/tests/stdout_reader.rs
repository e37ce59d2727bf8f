//! The sans-I/O stdout reader with real frames from the codec.

use invsync_codec::{
    Capabilities, EncodeOptions, Error as CodecError, Method, MethodChoice, encode,
};
use invsync_stdout_transport::{StdoutEvent, StdoutReader, StdoutReaderConfig};
use proptest::prelude::*;

fn stdout_frames(id: u32, payload: &[u8], method: Method) -> Vec<String> {
    let options = EncodeOptions {
        method: MethodChoice::Only(method),
        receiver: Capabilities::all(invsync_codec::DEFAULT_MAX_FRAME_STDOUT),
        ..EncodeOptions::default()
    };
    encode(id, payload, &options).unwrap().frames
}

fn read_all(chunks: &[&[u8]]) -> Vec<StdoutEvent> {
    let mut reader = StdoutReader::new(StdoutReaderConfig::default());
    let mut events = Vec::new();
    for chunk in chunks {
        reader.push(chunk, 0, &mut events);
    }
    reader.finish(0, &mut events);
    events
}

fn messages(events: &[StdoutEvent]) -> Vec<(u32, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            StdoutEvent::Message { message, .. } => Some((message.id, message.payload.clone())),
            _ => None,
        })
        .collect()
}

fn logs(events: &[StdoutEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            StdoutEvent::Log(line) => Some(line.text.clone()),
            _ => None,
        })
        .collect()
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    // Text the raw method can carry, varied enough that compression does not make it tiny.
    (0..len)
        .map(|i| {
            b"abcdefghijklmnopqrstuvwxyz{}[]\":,0123456789"[(i * 7 + i / 13 + seed as usize) % 43]
        })
        .collect()
}

#[test]
fn frames_interleaved_with_log_and_forged_chat_lines() {
    let a = payload(9000, 1);
    let b = payload(5000, 2);
    let frames_a = stdout_frames(1, &a, Method::Lz4);
    let frames_b = stdout_frames(2, &b, Method::Raw);
    assert!(frames_a.len() > 1 && frames_b.len() > 1);
    let mut stdout = Vec::new();
    let forged = format!("2024-05-01 10:00:00 [CHAT] mallory: \x0c{}", frames_b[0]);
    stdout.extend_from_slice(b"   0.016 Info ServerMultiplayerManager.cpp:123: starting\n");
    stdout.extend_from_slice(forged.as_bytes());
    stdout.push(b'\n');
    for (i, frame) in frames_a.iter().enumerate().rev() {
        stdout.extend_from_slice(format!("\x0c{frame}\n").as_bytes());
        if let Some(other) = frames_b.get(i) {
            stdout.extend_from_slice(format!("\x0c{other}\n").as_bytes());
        }
        stdout.extend_from_slice(format!("log line {i}\n").as_bytes());
    }
    let events = read_all(&[&stdout]);
    let mut got = messages(&events);
    got.sort();
    assert_eq!(got, [(1, a), (2, b)]);
    let logs = logs(&events);
    assert_eq!(
        logs[1], forged,
        "a marker after the start of a line is ordinary text"
    );
    assert_eq!(logs.len(), 2 + frames_a.len());
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StdoutEvent::FrameRejected { .. })),
        "{events:?}"
    );
}

#[test]
fn crlf_endings_and_invalid_utf8_log_lines() {
    let data = payload(100, 3);
    let frames = stdout_frames(5, &data, Method::Zlib);
    let mut stdout = b"caf\xe9 latin-1\r\n".to_vec();
    for frame in &frames {
        stdout.extend_from_slice(format!("\x0c{frame}\r\n").as_bytes());
    }
    let events = read_all(&[&stdout]);
    let StdoutEvent::Log(line) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(line.text, "caf\u{fffd} latin-1");
    assert!(line.lossy && line.terminated && line.number == 1);
    assert_eq!(messages(&events), [(5, data)]);
}

#[test]
fn a_corrupted_frame_is_rejected_by_name_and_a_good_copy_still_completes() {
    let data = payload(6000, 4);
    let frames = stdout_frames(9, &data, Method::Raw);
    let mut bad = frames[0].clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'a' { b'b' } else { b'a' };
    let mut stdout = b"\x0c".to_vec();
    stdout.extend_from_slice(&bad);
    stdout.push(b'\n');
    for frame in &frames {
        stdout.extend_from_slice(format!("\x0c{frame}\n").as_bytes());
    }
    let events = read_all(&[&stdout]);
    assert!(
        matches!(
            &events[0],
            StdoutEvent::FrameRejected {
                line: 1,
                error: CodecError::FrameChecksumMismatch { .. }
            }
        ),
        "{:?}",
        events[0]
    );
    assert_eq!(messages(&events), [(9, data)]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StdoutEvent::Progress { id: 9, have: 1, .. }))
    );
}

#[test]
fn long_frames_and_long_lines_are_refused_without_buffering() {
    let config = StdoutReaderConfig {
        max_line: 5000,
        ..StdoutReaderConfig::default()
    };
    let mut reader = StdoutReader::new(config);
    let mut events = Vec::new();
    let frame_4500 = format!("\x0cIS1 {}\n", "x".repeat(4495));
    reader.push(frame_4500.as_bytes(), 0, &mut events);
    assert!(
        matches!(
            &events[..],
            [StdoutEvent::FrameRejected {
                line: 1,
                error: CodecError::FrameTooLong { max: 3999, .. }
            }]
        ),
        "{events:?}"
    );
    events.clear();
    // A protocol line longer than the line limit, fed in pieces: reported once, skipped.
    reader.push(b"\x0cIS1 ", 0, &mut events);
    for _ in 0..10 {
        reader.push(&[b'y'; 1000], 0, &mut events);
    }
    reader.push(b"\nafter\n", 0, &mut events);
    assert_eq!(
        events,
        [
            StdoutEvent::LineTooLong {
                line: 2,
                max: 5000,
                protocol: true
            },
            StdoutEvent::Log(invsync_stdout_transport::LogLine {
                number: 3,
                text: "after".into(),
                lossy: false,
                terminated: true
            }),
        ]
    );
}

#[test]
fn a_stream_that_ends_mid_line() {
    let data = payload(50, 5);
    let frames = stdout_frames(3, &data, Method::Raw);
    assert_eq!(frames.len(), 1);
    // The final frame has no newline: it is still processed.
    let stdout = format!("start\n\x0c{}", frames[0]);
    let events = read_all(&[stdout.as_bytes()]);
    assert_eq!(messages(&events), [(3, data.clone())]);
    // Cut short inside the frame: rejected, never a wrong payload.
    let cut = format!("\x0c{}", &frames[0][..frames[0].len() - 3]);
    let events = read_all(&[cut.as_bytes()]);
    assert!(
        matches!(&events[..], [StdoutEvent::FrameRejected { .. }]),
        "{events:?}"
    );
    // A plain log line cut short is delivered as unterminated.
    let events = read_all(&[b"partial log"]);
    assert!(
        matches!(&events[..], [StdoutEvent::Log(l)] if !l.terminated && l.text == "partial log")
    );
}

#[test]
fn a_late_duplicate_is_reported_not_redelivered() {
    let data = payload(10, 6);
    let frame = stdout_frames(4, &data, Method::Raw).remove(0);
    let line = format!("\x0c{frame}\n");
    let events = read_all(&[line.as_bytes(), line.as_bytes()]);
    assert_eq!(messages(&events), [(4, data)]);
    assert!(matches!(
        events[1],
        StdoutEvent::Duplicate {
            line: 2,
            id: 4,
            index: 1
        }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Any split of the stream into reads: each message exactly once, log lines intact and in
    /// order.
    #[test]
    fn any_read_segmentation_delivers_each_message_once(
        len in 0usize..12000,
        seed in any::<u8>(),
        method in prop_oneof![Just(Method::Raw), Just(Method::Lz4), Just(Method::Zlib)],
        cuts in proptest::collection::vec(1usize..700, 1..40),
        crlf in any::<bool>(),
    ) {
        let data = payload(len, seed);
        let frames = stdout_frames(77, &data, method);
        let end = if crlf { "\r\n" } else { "\n" };
        let mut stdout = Vec::new();
        let mut expected_logs = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let log = format!("[CHAT] p{i}: \x0c{frame}");
            stdout.extend_from_slice(log.as_bytes());
            stdout.extend_from_slice(end.as_bytes());
            expected_logs.push(log);
            stdout.extend_from_slice(format!("\x0c{frame}{end}").as_bytes());
        }
        let mut pieces = Vec::new();
        let mut position = 0;
        let mut cut = cuts.iter().cycle();
        while position < stdout.len() {
            let end = (position + cut.next().unwrap()).min(stdout.len());
            pieces.push(&stdout[position..end]);
            position = end;
        }
        let events = read_all(&pieces);
        prop_assert_eq!(messages(&events), vec![(77, data)]);
        prop_assert_eq!(logs(&events), expected_logs);
    }
}

#[test]
fn other_programs_form_feed_lines_are_log_lines_but_other_versions_are_reported() {
    let frames = stdout_frames(3, b"{\"a\":1}", Method::Raw);
    let input = format!(
        "\x0c$ipc:inventory_sync_upload?j{{\"name\":\"bob\"}}\n\x0cIS2 00000000 future frame\n\x0c{}\n",
        frames[0]
    );
    let events = read_all(&[input.as_bytes()]);
    // Clusterio's IPC line is for the host to see, not a frame.
    assert_eq!(
        logs(&events),
        vec!["\x0c$ipc:inventory_sync_upload?j{\"name\":\"bob\"}".to_string()]
    );
    assert_eq!(messages(&events), vec![(3, b"{\"a\":1}".to_vec())]);
    // A frame of another protocol version is ours, and reported by name.
    let rejected: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StdoutEvent::FrameRejected { error, .. } => Some(error.name()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected, vec!["UnsupportedVersion"]);
}
