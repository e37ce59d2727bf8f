//! The RCON connection state machine driven without sockets: a test plays the server by
//! decoding the client's bytes and writing reply packets.

use std::time::{Duration, Instant};

use invsync_rcon_transport::{
    CommandError, Connection, ConnectionConfig, ConnectionError, Event, Mode, Packet,
    PacketDecoder, PacketError, Password,
};
use invsync_rcon_transport::{
    SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE, SERVERDATA_EXECCOMMAND, SERVERDATA_RESPONSE_VALUE,
};
use proptest::prelude::*;

const PASSWORD: &str = "s3cret-pw";

/// The server side of the test: decodes what the client wrote.
struct Server {
    decoder: PacketDecoder,
}

impl Server {
    fn new() -> Self {
        Server {
            decoder: PacketDecoder::new(1 << 24),
        }
    }

    fn receive(&mut self, client: &mut Connection) -> Vec<Packet> {
        if let Some(bytes) = client.transmit() {
            self.decoder.push(&bytes);
        }
        std::iter::from_fn(|| self.decoder.next_packet().unwrap()).collect()
    }
}

fn bytes_of(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for packet in packets {
        packet.encode_into(&mut out, 1 << 24).unwrap();
    }
    out
}

fn events(client: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

fn config(mode: Mode) -> ConnectionConfig {
    ConnectionConfig {
        mode,
        command_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    }
}

/// A connection that has authenticated, and the server that saw the auth packet.
fn ready(mode: Mode, now: Instant) -> (Connection, Server) {
    let (client, server, _) = ready_with(config(mode), now);
    (client, server)
}

/// [`ready`] with any configuration; also returns the auth packet's request id.
fn ready_with(config: ConnectionConfig, now: Instant) -> (Connection, Server, i32) {
    let mode = config.mode;
    let mut client = Connection::new(config, &Password::new(PASSWORD), now);
    let mut server = Server::new();
    let auth = server.receive(&mut client);
    assert_eq!(auth.len(), 1);
    let mut reply = Vec::new();
    if mode == Mode::Srcds {
        reply.push(Packet::new(
            auth[0].id,
            SERVERDATA_RESPONSE_VALUE,
            Vec::new(),
        ));
    }
    reply.push(Packet::new(
        auth[0].id,
        SERVERDATA_AUTH_RESPONSE,
        Vec::new(),
    ));
    client.handle_input(&bytes_of(&reply));
    assert_eq!(events(&mut client), [Event::Authenticated]);
    (client, server, auth[0].id)
}

#[test]
fn authenticates_with_a_type_3_packet() {
    let now = Instant::now();
    let mut client = Connection::new(config(Mode::Factorio), &Password::new(PASSWORD), now);
    assert!(!client.is_ready());
    assert_eq!(
        client.send_command("/version", now),
        Err(CommandError::NotReady)
    );
    let sent = Server::new().receive(&mut client);
    assert_eq!(sent, [Packet::new(1, SERVERDATA_AUTH, PASSWORD.as_bytes())]);
    client.handle_input(&bytes_of(&[Packet::new(
        1,
        SERVERDATA_AUTH_RESPONSE,
        Vec::new(),
    )]));
    assert_eq!(events(&mut client), [Event::Authenticated]);
    assert!(client.is_ready());
}

#[test]
fn a_wrong_password_is_a_distinct_error() {
    let now = Instant::now();
    let mut client = Connection::new(config(Mode::Factorio), &Password::new("wrong"), now);
    Server::new().receive(&mut client);
    client.handle_input(&bytes_of(&[Packet::new(
        -1,
        SERVERDATA_AUTH_RESPONSE,
        Vec::new(),
    )]));
    assert_eq!(
        events(&mut client),
        [Event::Closed(ConnectionError::WrongPassword)]
    );
    assert!(client.is_closed());
}

#[test]
fn srcds_auth_with_its_leading_empty_packet_works_in_both_modes() {
    for mode in [Mode::Factorio, Mode::Srcds] {
        let now = Instant::now();
        let mut client = Connection::new(config(mode), &Password::new(PASSWORD), now);
        Server::new().receive(&mut client);
        client.handle_input(&bytes_of(&[
            Packet::new(1, SERVERDATA_RESPONSE_VALUE, Vec::new()),
            Packet::new(1, SERVERDATA_AUTH_RESPONSE, Vec::new()),
        ]));
        assert_eq!(events(&mut client), [Event::Authenticated], "{mode:?}");
    }
}

#[test]
fn an_unexpected_auth_reply_and_a_silent_server_fail_the_connection() {
    let now = Instant::now();
    let mut client = Connection::new(config(Mode::Factorio), &Password::new(PASSWORD), now);
    client.handle_input(&bytes_of(&[Packet::new(
        9,
        SERVERDATA_AUTH_RESPONSE,
        Vec::new(),
    )]));
    assert_eq!(
        events(&mut client),
        [Event::Closed(ConnectionError::UnexpectedAuthReply {
            expected_id: 1,
            id: 9,
            kind: 2
        })]
    );

    let mut client = Connection::new(config(Mode::Factorio), &Password::new(PASSWORD), now);
    let deadline = client.poll_timeout().unwrap();
    assert_eq!(deadline, now + ConnectionConfig::default().auth_timeout);
    client.handle_timeout(deadline - Duration::from_millis(1));
    assert!(events(&mut client).is_empty());
    client.handle_timeout(deadline);
    assert!(matches!(
        events(&mut client)[..],
        [Event::Closed(ConnectionError::AuthTimedOut { .. })]
    ));
}

#[test]
fn pipelined_commands_are_matched_by_id_whatever_the_reply_order() {
    let now = Instant::now();
    let (mut client, mut server) = ready(Mode::Factorio, now);
    let commands: Vec<_> = ["/a", "/b", "/c"]
        .iter()
        .map(|body| client.send_command(body, now).unwrap())
        .collect();
    let sent = server.receive(&mut client);
    assert_eq!(
        sent.len(),
        3,
        "all three go out at once, no sentinel probes"
    );
    assert!(
        sent.iter()
            .all(|p| p.kind == SERVERDATA_EXECCOMMAND && p.id > 0)
    );
    // Answer in reverse order, echoing each body.
    let replies: Vec<Packet> = sent
        .iter()
        .rev()
        .map(|p| {
            Packet::new(
                p.id,
                SERVERDATA_RESPONSE_VALUE,
                [b"re:", &p.body[..]].concat(),
            )
        })
        .collect();
    client.handle_input(&bytes_of(&replies));
    assert_eq!(
        events(&mut client),
        [
            Event::Reply {
                command: commands[2],
                body: b"re:/c".to_vec()
            },
            Event::Reply {
                command: commands[1],
                body: b"re:/b".to_vec()
            },
            Event::Reply {
                command: commands[0],
                body: b"re:/a".to_vec()
            },
        ]
    );
    assert_eq!(client.outstanding(), 0);
}

#[test]
fn a_second_reply_packet_in_factorio_mode_closes_the_connection() {
    let now = Instant::now();
    let (mut client, mut server) = ready(Mode::Factorio, now);
    let first = client.send_command("/a", now).unwrap();
    let second = client.send_command("/b", now).unwrap();
    let sent = server.receive(&mut client);
    client.handle_input(&bytes_of(&[
        Packet::new(sent[0].id, SERVERDATA_RESPONSE_VALUE, b"part 1".to_vec()),
        Packet::new(sent[0].id, SERVERDATA_RESPONSE_VALUE, b"part 2".to_vec()),
    ]));
    let got = events(&mut client);
    let violation = ConnectionError::ExtraReplyPacket { id: sent[0].id };
    assert_eq!(
        got,
        [
            Event::Reply {
                command: first,
                body: b"part 1".to_vec()
            },
            Event::CommandFailed {
                command: second,
                error: CommandError::ConnectionLost(violation.clone())
            },
            Event::Closed(violation.clone()),
        ]
    );
    assert!(violation.to_string().contains("Srcds"), "{violation}");
}

#[test]
fn a_reply_matching_nothing_closes_the_connection_but_id_0_is_ignored() {
    let now = Instant::now();
    let (mut client, mut server) = ready(Mode::Factorio, now);
    let command = client.send_command("/a", now).unwrap();
    let sent = server.receive(&mut client);
    client.handle_input(&bytes_of(&[
        Packet::new(0, SERVERDATA_RESPONSE_VALUE, b"[CHAT] someone: hi".to_vec()),
        Packet::new(sent[0].id, SERVERDATA_RESPONSE_VALUE, b"fine".to_vec()),
    ]));
    assert_eq!(
        events(&mut client),
        [Event::Reply {
            command,
            body: b"fine".to_vec()
        }]
    );
    client.handle_input(&bytes_of(&[Packet::new(
        777,
        SERVERDATA_RESPONSE_VALUE,
        Vec::new(),
    )]));
    assert_eq!(
        events(&mut client),
        [Event::Closed(ConnectionError::UnmatchedReply {
            id: 777,
            kind: 0
        })]
    );
}

#[test]
fn timeouts_fail_one_command_and_its_late_reply_is_dropped() {
    let now = Instant::now();
    let (mut client, mut server) = ready(Mode::Factorio, now);
    let slow = client
        .send_command_with_timeout("/slow", Duration::from_secs(1), now)
        .unwrap();
    let later = now + Duration::from_millis(500);
    let other = client.send_command("/other", later).unwrap();
    let sent = server.receive(&mut client);
    assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(1)));
    client.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(
        events(&mut client),
        [Event::CommandFailed {
            command: slow,
            error: CommandError::TimedOut {
                after: Duration::from_secs(1)
            }
        }]
    );
    assert_eq!(client.poll_timeout(), Some(later + Duration::from_secs(5)));
    client.handle_input(&bytes_of(&[
        Packet::new(sent[0].id, SERVERDATA_RESPONSE_VALUE, b"too late".to_vec()),
        Packet::new(sent[1].id, SERVERDATA_RESPONSE_VALUE, b"in time".to_vec()),
    ]));
    assert_eq!(
        events(&mut client),
        [Event::Reply {
            command: other,
            body: b"in time".to_vec()
        }]
    );
    assert!(client.is_ready());
}

#[test]
fn srcds_replies_are_gathered_until_the_probe_mirror() {
    let now = Instant::now();
    let (mut client, mut server) = ready(Mode::Srcds, now);
    let first = client.send_command("/long", now).unwrap();
    let second = client.send_command("/empty", now).unwrap();
    let sent = server.receive(&mut client);
    assert_eq!(sent.len(), 4, "each command is followed by an empty probe");
    assert_eq!(
        (sent[1].kind, sent[1].body.len()),
        (SERVERDATA_RESPONSE_VALUE, 0)
    );
    let (long, probe1, empty, probe2) = (sent[0].id, sent[1].id, sent[2].id, sent[3].id);
    let odd_trailer = b"\x00\x00\x00\x01\x00\x00\x00\x00".to_vec();
    client.handle_input(&bytes_of(&[
        Packet::new(long, SERVERDATA_RESPONSE_VALUE, b"aaa".to_vec()),
        Packet::new(long, SERVERDATA_RESPONSE_VALUE, b"bbb".to_vec()),
        Packet::new(long, SERVERDATA_RESPONSE_VALUE, b"c".to_vec()),
        Packet::new(probe1, SERVERDATA_RESPONSE_VALUE, Vec::new()),
        Packet::new(probe1, SERVERDATA_RESPONSE_VALUE, odd_trailer.clone()),
        Packet::new(empty, SERVERDATA_RESPONSE_VALUE, Vec::new()),
        Packet::new(probe2, SERVERDATA_RESPONSE_VALUE, Vec::new()),
        Packet::new(probe2, SERVERDATA_RESPONSE_VALUE, odd_trailer),
    ]));
    assert_eq!(
        events(&mut client),
        [
            Event::Reply {
                command: first,
                body: b"aaabbbc".to_vec()
            },
            Event::Reply {
                command: second,
                body: Vec::new()
            },
        ]
    );
    assert!(client.is_ready());
}

#[test]
fn srcds_reply_size_is_bounded() {
    let now = Instant::now();
    let mut config = config(Mode::Srcds);
    config.max_reply_length = 5;
    let (mut client, mut server, _) = ready_with(config, now);
    client.send_command("/x", now).unwrap();
    let sent = server.receive(&mut client);
    client.handle_input(&bytes_of(&[
        Packet::new(sent[0].id, SERVERDATA_RESPONSE_VALUE, b"abc".to_vec()),
        Packet::new(sent[0].id, SERVERDATA_RESPONSE_VALUE, b"def".to_vec()),
    ]));
    let got = events(&mut client);
    assert!(
        matches!(
            got.last(),
            Some(Event::Closed(ConnectionError::ReplyTooLong { max: 5, .. }))
        ),
        "{got:?}"
    );
}

#[test]
fn request_ids_wrap_to_1_and_never_use_0() {
    let now = Instant::now();
    let config = ConnectionConfig {
        first_request_id: i32::MAX - 1,
        ..config(Mode::Factorio)
    };
    let (mut client, mut server, auth_id) = ready_with(config, now);
    assert_eq!(auth_id, i32::MAX - 1);
    for _ in 0..3 {
        client.send_command("/x", now).unwrap();
    }
    let ids: Vec<i32> = server.receive(&mut client).iter().map(|p| p.id).collect();
    assert_eq!(ids, [i32::MAX, 1, 2]);
}

#[test]
fn a_lying_length_closes_the_connection_without_buffering() {
    let now = Instant::now();
    let (mut client, mut server) = ready(Mode::Factorio, now);
    let command = client.send_command("/a", now).unwrap();
    server.receive(&mut client);
    client.handle_input(&(1i32 << 30).to_le_bytes());
    let max = ConnectionConfig::default().max_packet_length;
    let error = ConnectionError::Framing(PacketError::LengthTooLarge {
        offset: 14,
        length: 1 << 30,
        max,
    });
    assert_eq!(
        events(&mut client),
        [
            Event::CommandFailed {
                command,
                error: CommandError::ConnectionLost(error.clone())
            },
            Event::Closed(error)
        ]
    );
}

#[test]
fn commands_the_server_would_cut_or_refuse_are_rejected_locally() {
    let now = Instant::now();
    let mut config = config(Mode::Factorio);
    config.max_command_length = 8;
    let (mut client, mut server, _) = ready_with(config, now);
    assert_eq!(
        client.send_command("/a\0b", now),
        Err(CommandError::ContainsNul { at: 2 })
    );
    assert_eq!(
        client.send_command("/123456789", now),
        Err(CommandError::TooLong { len: 10, max: 8 })
    );
    assert!(server.receive(&mut client).is_empty());
}

#[test]
fn close_fails_outstanding_commands_then_reports_once() {
    let now = Instant::now();
    let (mut client, _server) = ready(Mode::Factorio, now);
    let a = client.send_command("/a", now).unwrap();
    let b = client.send_command("/b", now).unwrap();
    let lost = ConnectionError::Disconnected {
        reason: "reset".into(),
    };
    client.close(lost.clone());
    client.close(ConnectionError::Disconnected {
        reason: "again".into(),
    });
    assert_eq!(
        events(&mut client),
        [
            Event::CommandFailed {
                command: a,
                error: CommandError::ConnectionLost(lost.clone())
            },
            Event::CommandFailed {
                command: b,
                error: CommandError::ConnectionLost(lost.clone())
            },
            Event::Closed(lost),
        ]
    );
    assert_eq!(client.send_command("/c", now), Err(CommandError::NotReady));
}

#[test]
fn debug_output_never_shows_the_password() {
    let now = Instant::now();
    let client = Connection::new(config(Mode::Factorio), &Password::new(PASSWORD), now);
    let shown = format!("{client:?} {:?}", config(Mode::Factorio));
    assert!(!shown.contains(PASSWORD), "{shown}");
    let client_config = invsync_rcon_transport::ClientConfig::new("127.0.0.1:1", PASSWORD);
    let shown = format!("{client_config:?}");
    assert!(
        !shown.contains(PASSWORD) && shown.contains("<redacted>"),
        "{shown}"
    );
}

proptest! {
    /// Any reply order and any segmentation of the byte stream: every command gets exactly
    /// its own reply, in both modes.
    #[test]
    fn replies_reach_their_commands_under_any_order_and_segmentation(
        bodies in proptest::collection::vec("[a-z]{0,12}", 1..12),
        order_seed in any::<u64>(),
        cuts in proptest::collection::vec(1usize..40, 1..50),
        srcds in any::<bool>(),
    ) {
        let mode = if srcds { Mode::Srcds } else { Mode::Factorio };
        let now = Instant::now();
        let (mut client, mut server) = ready(mode, now);
        let commands: Vec<_> = bodies.iter().map(|b| client.send_command(&format!("/{b}"), now).unwrap()).collect();
        let sent = server.receive(&mut client);
        let mut replies: Vec<Vec<Packet>> = Vec::new();
        if mode == Mode::Factorio {
            for p in &sent {
                replies.push(vec![Packet::new(p.id, 0, [b"r", &p.body[..]].concat())]);
            }
            // Factorio may answer in any order: shuffle whole replies.
            let mut state = order_seed | 1;
            for i in (1..replies.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                replies.swap(i, (state % (i as u64 + 1)) as usize);
            }
        } else {
            // SRCDS answers in order; each reply in up to three pieces, then the probe mirror.
            for pair in sent.chunks(2) {
                let (command, probe) = (&pair[0], &pair[1]);
                let body = [b"r", &command.body[..]].concat();
                let mut packets: Vec<Packet> = body.chunks(3).map(|c| Packet::new(command.id, 0, c.to_vec())).collect();
                if packets.is_empty() {
                    packets.push(Packet::new(command.id, 0, Vec::new()));
                }
                packets.push(Packet::new(probe.id, 0, Vec::new()));
                replies.push(packets);
            }
        }
        let stream = bytes_of(&replies.concat());
        let mut position = 0;
        let mut cut = cuts.iter().cycle();
        while position < stream.len() {
            let end = (position + cut.next().unwrap()).min(stream.len());
            client.handle_input(&stream[position..end]);
            position = end;
        }
        let mut got: Vec<(u64, Vec<u8>)> = events(&mut client)
            .into_iter()
            .map(|e| match e {
                Event::Reply { command, body } => (command.0, body),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        got.sort();
        let expected: Vec<(u64, Vec<u8>)> = commands
            .iter()
            .zip(&bodies)
            .map(|(c, b)| (c.0, format!("r/{b}").into_bytes()))
            .collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(client.outstanding(), 0);
    }

    /// Arbitrary bytes from the server never panic the client, and never make it buffer more
    /// than one packet's limit plus the last push.
    #[test]
    fn arbitrary_input_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20)) {
        let now = Instant::now();
        let (mut client, _server) = ready(Mode::Factorio, now);
        client.send_command("/x", now).unwrap();
        for chunk in &chunks {
            client.handle_input(chunk);
        }
        let _ = events(&mut client);
    }
}
