//! Property tests of the pull state machine and of control-message classification: any order
//! of replies, lost and damaged replies included, gives back exactly the staged payload, and no
//! input makes the classifier panic.

use invsync_codec::{Capabilities, EncodeOptions, MethodChoice, encode};
use invsync_host::{Classified, classify};
use invsync_host::{Pull, PullCommand, PullConfig, PullEnd, StagedAnnouncement};
use invsync_test_support::xorshift::XorShift64;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn pulls_deliver_the_exact_payload_whatever_happens_to_replies(
        len in 0usize..60_000,
        max_frame in 200usize..8_000,
        zlib in any::<bool>(),
        in_flight in 1usize..6,
        seed in any::<u64>(),
        lose in 0u64..30,
        damage in 0u64..20,
    ) {
        let mut rng = XorShift64(seed | 1);
        let payload: Vec<u8> = (0..len).map(|_| b'#' + (rng.next_u64() % 60) as u8).collect();
        let method = if zlib { invsync_codec::Method::Zlib } else { invsync_codec::Method::Raw };
        let e = encode(
            9,
            &payload,
            &EncodeOptions {
                method: MethodChoice::Only(method),
                receiver: Capabilities::all(max_frame),
                ..EncodeOptions::default()
            },
        )
        .unwrap();
        let staged = StagedAnnouncement {
            id: 9,
            count: e.frames.len() as u32,
            wire_len: e.wire_len,
            method: e.method,
            payload_len: e.payload_len,
        };
        let config = PullConfig {
            in_flight,
            max_attempts_per_chunk: 1_000,
            max_lost_in_row: 1_000,
            ..PullConfig::default()
        };
        let mut pull = Pull::new(staged, config).unwrap();
        let mut got = None;
        let mut outstanding: Vec<PullCommand> = Vec::new();
        // Bounded: every round answers at least one command.
        for _ in 0..100_000 {
            outstanding.extend(std::iter::from_fn(|| pull.poll_command()));
            if outstanding.is_empty() {
                break;
            }
            let pick = (rng.next_u64() % outstanding.len() as u64) as usize;
            let c = outstanding.swap_remove(pick);
            let roll = rng.next_u64() % 100;
            match c.kind {
                invsync_host::PullCommandKind::Chunk { index } => {
                    let mut reply = e.frames[index as usize - 1].clone().into_bytes();
                    if roll < lose {
                        pull.on_lost(c.kind);
                        continue;
                    }
                    if roll < lose + damage {
                        let at = (rng.next_u64() % reply.len() as u64) as usize;
                        reply[at] = if reply[at] == b'A' { b'B' } else { b'A' };
                    }
                    reply.push(b'\n');
                    pull.on_reply(c.kind, &reply, 0);
                }
                invsync_host::PullCommandKind::Ack => pull.on_reply(c.kind, b"ok 9\n", 0),
            }
            if let Some(m) = pull.take_message() {
                prop_assert!(got.is_none(), "delivered twice");
                got = Some(m.payload);
            }
        }
        prop_assert_eq!(pull.end(), Some(&PullEnd::Acknowledged));
        prop_assert!(got.as_deref() == Some(&payload[..]), "payload differs");
    }

    #[test]
    fn classification_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = classify(&bytes);
    }

    #[test]
    fn only_the_three_control_types_are_taken(kind in "[a-z_]{1,12}", id in 1u32..) {
        let payload = format!(r#"{{"type":"{kind}","id":{id},"status":"done","count":1,"wlen":1,"method":"raw","bytes":1}}"#);
        let classified = classify(payload.as_bytes());
        match kind.as_str() {
            "staged" | "received" => prop_assert!(matches!(classified, Classified::Control(_))),
            "caps" => prop_assert!(matches!(classified, Classified::Malformed(_))),
            _ => prop_assert_eq!(classified, Classified::Application),
        }
    }
}
