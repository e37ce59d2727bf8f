//! The reassembler's bookkeeping: missing chunks, ages, limits, late duplicates, reuse of ids.

use invsync_codec::{
    Capabilities, EncodeOptions, Error, Method, MethodChoice, Outcome, Reassembler,
    ReassemblerConfig, decode_message, encode,
};

fn frames(id: u32, payload: &[u8], max_frame: usize) -> Vec<String> {
    let opts = EncodeOptions {
        method: MethodChoice::Only(Method::Raw),
        receiver: Capabilities::all(max_frame),
        ..EncodeOptions::default()
    };
    encode(id, payload, &opts).unwrap().frames
}

fn config() -> ReassemblerConfig {
    ReassemblerConfig {
        max_age_ticks: None,
        max_age_frames: None,
        ..ReassemblerConfig::default()
    }
}

#[test]
fn reports_missing_chunks_and_progress() {
    let f = frames(3, &[b'x'; 500], 100);
    assert!(f.len() >= 6);
    let mut rx = Reassembler::new(config());
    assert_eq!(rx.missing(3), None);
    for i in [4, 0, 2] {
        rx.push(f[i].as_bytes(), 0).unwrap();
    }
    let n = f.len() as u32;
    let want: Vec<u32> = (1..=n).filter(|i| ![1, 3, 5].contains(i)).collect();
    assert_eq!(rx.missing(3), Some(want));
    let p = &rx.progress()[0];
    assert_eq!((p.id, p.have, p.count, p.wire_len), (3, 3, n, 500));
    assert!(p.received_bytes > 0 && p.received_bytes < 500);
    assert_eq!(rx.buffered_bytes(), 500);
}

#[test]
fn expires_by_ticks_without_progress() {
    let f = frames(1, &[b'x'; 300], 100);
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_age_ticks: Some(600),
        ..config()
    });
    rx.push(f[0].as_bytes(), 1000).unwrap();
    rx.push(f[1].as_bytes(), 1500).unwrap(); // progress resets the age
    assert!(rx.expire(2099).is_empty());
    let expired = rx.expire(2100);
    assert_eq!(expired.len(), 1);
    match &expired[0] {
        Error::Expired { id, missing, .. } => {
            assert_eq!(*id, 1);
            assert_eq!(missing[0], 3);
        }
        other => panic!("{other}"),
    }
    assert_eq!(rx.buffered_bytes(), 0);
    assert!(rx.progress().is_empty());
}

#[test]
fn expires_by_frames_during_push() {
    let stuck = frames(1, &[b'x'; 300], 100);
    let other = frames(2, &[b'y'; 2000], 100);
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_age_frames: Some(5),
        ..config()
    });
    rx.push(stuck[0].as_bytes(), 0).unwrap();
    for f in &other[..5] {
        rx.push(f.as_bytes(), 0).unwrap();
    }
    let expired = rx.take_expired();
    assert_eq!(
        expired.iter().map(Error::message_id).collect::<Vec<_>>(),
        vec![Some(1)]
    );
    assert!(rx.take_expired().is_empty());
    assert_eq!(rx.missing(1), None);
    assert!(rx.missing(2).is_some());
}

#[test]
fn expired_space_is_given_back_to_new_messages() {
    let first = frames(1, &[b'x'; 300], 100);
    let second = frames(2, &[b'y'; 300], 100);
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_messages: 1,
        max_age_ticks: Some(10),
        ..config()
    });
    rx.push(first[0].as_bytes(), 0).unwrap();
    assert_eq!(
        rx.push(second[0].as_bytes(), 5).unwrap_err().name(),
        "TooManyMessages"
    );
    // At tick 10 the first is stale and dropped before the second is admitted.
    assert!(matches!(
        rx.push(second[0].as_bytes(), 10).unwrap(),
        Outcome::Stored { id: 2, .. }
    ));
    assert_eq!(rx.take_expired().len(), 1);
}

#[test]
fn late_duplicates_after_completion_are_ignored_but_a_new_message_may_reuse_the_id() {
    let f = frames(9, b"first message body", 50);
    let mut rx = Reassembler::new(config());
    let mut completed = 0;
    for x in &f {
        if let Outcome::Complete(_) = rx.push(x.as_bytes(), 0).unwrap() {
            completed += 1;
        }
    }
    assert_eq!(completed, 1);
    for x in &f {
        assert!(matches!(
            rx.push(x.as_bytes(), 0).unwrap(),
            Outcome::Duplicate { id: 9, .. }
        ));
    }
    assert!(
        rx.progress().is_empty(),
        "a late duplicate must not start a new message"
    );
    // The sender restarted and reused id 9 for other content: a different mcrc, a new message.
    let g = frames(9, b"second message, other body", 50);
    let mut got = None;
    for x in &g {
        if let Outcome::Complete(m) = rx.push(x.as_bytes(), 0).unwrap() {
            got = Some(m.payload);
        }
    }
    assert_eq!(got.as_deref(), Some(&b"second message, other body"[..]));
}

#[test]
fn a_conflict_keeps_the_message_in_progress() {
    let a = frames(4, &[b'a'; 300], 100);
    let b = frames(4, &[b'b'; 300], 100);
    let mut rx = Reassembler::new(config());
    rx.push(a[0].as_bytes(), 0).unwrap();
    let err = rx.push(b[1].as_bytes(), 0).unwrap_err();
    assert_eq!(err.name(), "ConflictingFrame");
    assert_eq!(err.message_id(), Some(4));
    let mut done = None;
    for x in &a[1..] {
        if let Outcome::Complete(m) = rx.push(x.as_bytes(), 0).unwrap() {
            done = Some(m.payload);
        }
    }
    assert_eq!(done, Some(vec![b'a'; 300]));
}

#[test]
fn buffered_bytes_are_reserved_up_front() {
    let big = frames(1, &[b'x'; 1000], 200);
    let small = frames(2, &[b'y'; 300], 200);
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_buffered: 1200,
        ..config()
    });
    rx.push(big[0].as_bytes(), 0).unwrap();
    assert_eq!(rx.buffered_bytes(), 1000);
    let err = rx.push(small[0].as_bytes(), 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyMessages {
                limit: "max_buffered",
                ..
            }
        ),
        "{err}"
    );
    assert!(rx.forget(1));
    assert_eq!(rx.buffered_bytes(), 0);
    rx.push(small[0].as_bytes(), 0).unwrap();
    rx.reset();
    assert!(rx.progress().is_empty() && rx.buffered_bytes() == 0);
}

#[test]
fn single_chunk_messages_bypass_the_in_progress_limits() {
    let multi = frames(1, &[b'x'; 300], 100);
    let single = frames(2, b"small", 100);
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_messages: 1,
        max_buffered: 300,
        ..config()
    });
    rx.push(multi[0].as_bytes(), 0).unwrap();
    assert!(matches!(
        rx.push(single[0].as_bytes(), 0).unwrap(),
        Outcome::Complete(_)
    ));
}

#[test]
fn frame_too_long_is_refused_before_parsing() {
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_frame: 50,
        ..config()
    });
    let err = rx.push(&[b'x'; 51], 0).unwrap_err();
    assert_eq!(err, Error::FrameTooLong { len: 51, max: 50 });
}

#[test]
fn decode_message_reports_what_is_missing() {
    let f = frames(5, &[b'z'; 300], 100);
    let m = decode_message(f.iter().rev(), ReassemblerConfig::default()).unwrap();
    assert_eq!(m.payload, vec![b'z'; 300]);
    let err = decode_message(&f[1..], ReassemblerConfig::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Incomplete { id: 5, missing, .. } if missing == &vec![1]),
        "{err}"
    );
    let none: [&[u8]; 0] = [];
    assert_eq!(
        decode_message(none, ReassemblerConfig::default())
            .unwrap_err()
            .name(),
        "Incomplete"
    );
}

#[test]
fn error_messages_say_what_and_where() {
    let f = frames(12, &[b'q'; 300], 100);
    let mut bad = f[1].clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = b'r';
    let err = Reassembler::new(config()).push(&bad, 0).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("message 12 chunk 2/"), "{text}");
    assert!(text.contains("checksum"), "{text}");
}
