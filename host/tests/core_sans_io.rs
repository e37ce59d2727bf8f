//! The link's protocol logic without sockets, clocks or threads: commands and replies are
//! strings, stdout is bytes through the real stdout reader, time is an `Instant` we move.
//!
//! The game side here is a small scripted receiver built on the codec's `Reassembler`, with
//! switches for deferred verification (PROTOCOL.md 5.3), so each test controls exactly which
//! answers the link sees.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use invsync_codec::{
    Capabilities, EncodeOptions, Method, MethodChoice, Outcome, Reassembler, ReassemblerConfig,
    encode,
};
use invsync_host::{
    Command, CommandKind, Confirmation, LinkConfig, LinkCore, LinkEvent, MessageIds, Path, Problem,
    SendError, SendFailure,
};
use invsync_rcon_transport::format_ranges;
use invsync_stdout_transport::{StdoutEvent, StdoutReader, StdoutReaderConfig};
use invsync_test_support::xorshift::{XorShift64, noise as printable_noise};

/// The frame inside a `recv` command: the long-bracket string argument.
fn frame_of(command: &str) -> String {
    let start = command.find(",[").expect("recv command") + 2;
    let level = command[start..].bytes().take_while(|&b| b == b'=').count();
    let open = start + level + 1;
    let close = format!("]{}])", "=".repeat(level));
    assert!(command.ends_with(&close), "{command}");
    command[open..command.len() - close.len()].to_owned()
}

/// A game receiver answering `recv` and `status` like PROTOCOL.md 5.3.
struct Game {
    rx: Reassembler,
    /// Verify only when told to (`verify_all`), answering `ok n/n` for the last chunk.
    deferred: bool,
    held: BTreeMap<u32, BTreeMap<u32, String>>,
    counts: BTreeMap<u32, u32>,
    done: BTreeMap<u32, Vec<u8>>,
    failed: BTreeMap<u32, String>,
}

impl Game {
    fn new(deferred: bool) -> Self {
        Game {
            rx: Reassembler::new(ReassemblerConfig {
                max_frame: 8192,
                ..ReassemblerConfig::default()
            }),
            deferred,
            held: BTreeMap::new(),
            counts: BTreeMap::new(),
            done: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    fn answer(&mut self, c: &Command) -> String {
        match c.kind {
            CommandKind::Recv { .. } => self.recv(&frame_of(&c.text)),
            CommandKind::Status { message } => self.status(message),
            CommandKind::Caps => Capabilities::all(8192).to_json(),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn recv(&mut self, frame: &str) -> String {
        let h = invsync_codec::Frame::parse(frame.as_bytes())
            .unwrap()
            .header;
        if self.done.contains_key(&h.id) {
            return format!("done {}", h.id);
        }
        self.counts.insert(h.id, h.count);
        let held = self.held.entry(h.id).or_default();
        held.insert(h.index, frame.to_owned());
        let have = held.len() as u32;
        if have == h.count && !self.deferred {
            self.verify(h.id);
            return format!("done {}", h.id);
        }
        format!("ok {} {have}/{}", h.id, h.count)
    }

    fn verify(&mut self, id: u32) -> bool {
        for frame in self.held.remove(&id).unwrap().values() {
            match self.rx.push(frame.as_bytes(), 0) {
                Ok(Outcome::Complete(m)) => {
                    self.done.insert(id, m.payload);
                    return true;
                }
                Ok(_) => {}
                Err(e) => {
                    self.failed.insert(id, e.name().to_owned());
                    return false;
                }
            }
        }
        panic!("verify of an incomplete message");
    }

    /// The game restarted from a save: every chunk it held is gone.
    fn lose_held_chunks(&mut self) {
        self.held.clear();
        self.counts.clear();
    }

    fn status(&self, id: u32) -> String {
        if self.done.contains_key(&id) {
            return format!("done {id}");
        }
        if let Some(name) = self.failed.get(&id) {
            return format!("failed {id} {name} it was bad");
        }
        match (self.held.get(&id), self.counts.get(&id)) {
            (Some(held), Some(&count)) => {
                let missing: Vec<u32> = (1..=count).filter(|i| !held.contains_key(i)).collect();
                format!("missing {id} {}", format_ranges(&missing))
                    .trim_end()
                    .to_owned()
            }
            _ => format!("unknown {id}"),
        }
    }
}

/// Game stdout as the link sees it: bytes through the real stdout reader.
struct Stdout {
    reader: StdoutReader,
    next_id: u32,
}

impl Stdout {
    fn new() -> Self {
        Stdout {
            reader: StdoutReader::new(StdoutReaderConfig::default()),
            next_id: 1,
        }
    }

    fn lines(&mut self, text: &[u8]) -> Vec<StdoutEvent> {
        let mut events = Vec::new();
        self.reader.push(text, 0, &mut events);
        events
    }

    /// A message printed by the game, in stdout-sized frames.
    fn message(&mut self, payload: &[u8]) -> Vec<StdoutEvent> {
        let e = encode(
            self.next_id,
            payload,
            &EncodeOptions {
                receiver: Capabilities::all(3999),
                ..EncodeOptions::default()
            },
        )
        .unwrap();
        self.next_id += 1;
        let mut text = Vec::new();
        for f in &e.frames {
            text.push(0x0c);
            text.extend_from_slice(f.as_bytes());
            text.push(b'\n');
        }
        self.lines(&text)
    }
}

fn config() -> LinkConfig {
    LinkConfig {
        in_flight: 4,
        ..LinkConfig::default()
    }
}

fn drain_commands(core: &mut LinkCore, now: Instant) -> Vec<Command> {
    std::iter::from_fn(|| core.poll_command(now)).collect()
}

fn drain_events(core: &mut LinkCore) -> Vec<LinkEvent> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

fn run_encoding(core: &mut LinkCore) -> usize {
    let mut n = 0;
    while let Some(job) = core.next_encode_job() {
        let result = job.run();
        core.on_encoded(job.id, result);
        n += 1;
    }
    n
}

/// Text that deflates a lot, so `auto` picks zlib when allowed.
fn repetitive(len: usize) -> Vec<u8> {
    br#"{"name":"iron-plate","count":100},"#.iter().copied().cycle().take(len).collect()
}

/// Text that does not deflate, so its size decides the frame count.
fn noise(len: usize) -> Vec<u8> {
    printable_noise(len, &mut XorShift64(0x2545_f491_4f6c_dd1d))
}

/// Answers every command until nothing is left to do; returns the commands seen.
fn run(core: &mut LinkCore, game: &mut Game, now: Instant) -> Vec<Command> {
    let mut seen = Vec::new();
    loop {
        run_encoding(core);
        let batch = drain_commands(core, now);
        if batch.is_empty() {
            return seen;
        }
        // Answer in reverse order: the game runs short commands before long ones.
        for c in batch.iter().rev() {
            let reply = game.answer(c);
            core.on_reply(c.token, format!("{reply}\n").as_bytes(), now);
        }
        seen.extend(batch);
    }
}

/// Hands stdout events to the link, in order.
fn feed(core: &mut LinkCore, events: Vec<StdoutEvent>) {
    for e in events {
        core.on_stdout(e);
    }
}

/// Answers the link's first command, the caps query, with a game that decodes every method in
/// frames of up to 1000 bytes.
fn answer_caps(core: &mut LinkCore, now: Instant) {
    let caps = drain_commands(core, now);
    core.on_reply(
        caps[0].token,
        Capabilities::all(1000).to_json().as_bytes(),
        now,
    );
}

/// Sends `len` bytes of noise and answers every command for it; returns the message id.
fn send_and_run(core: &mut LinkCore, game: &mut Game, len: usize, now: Instant) -> u32 {
    let id = core.send(noise(len));
    run(core, game, now);
    id
}

/// At the link's next timeout, answers the status query it sends with what the game says of
/// message `id`; returns that time.
fn answer_status_when_due(core: &mut LinkCore, game: &Game, id: u32) -> Instant {
    let due = core.poll_timeout().unwrap();
    let q = drain_commands(core, due);
    core.on_reply(q[0].token, game.status(id).as_bytes(), due);
    due
}

/// Asserts that the only event is the delivery of message `id`, confirmed by `confirmed_by`.
#[track_caller]
fn assert_delivered(core: &mut LinkCore, id: u32, confirmed_by: Confirmation) {
    let events = drain_events(core);
    assert!(
        matches!(
            events.as_slice(),
            [LinkEvent::Delivered(d)] if d.id == id && d.confirmed_by == confirmed_by
        ),
        "{events:?}"
    );
}

/// The only event, which must be a failed send.
#[track_caller]
fn only_send_failure(core: &mut LinkCore) -> SendError {
    let events = drain_events(core);
    let [LinkEvent::SendFailed(err)] = events.as_slice() else {
        panic!("{events:?}")
    };
    err.clone()
}

#[test]
fn caps_come_first_and_decide_the_method() {
    let now = Instant::now();
    let mut core = LinkCore::new(config(), MessageIds::starting_at(100), now);
    let id = core.send(repetitive(20_000));
    assert_eq!(id, 100);
    // Nothing is encoded before the game has declared what it decodes.
    assert_eq!(run_encoding(&mut core), 0);
    let first = drain_commands(&mut core, now);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].kind, CommandKind::Caps);
    assert_eq!(first[0].text, "/sc remote.call(\"invsync\",\"caps\")");
    let declared = Capabilities::from_method_list("raw", 2000).unwrap();
    core.on_reply(
        first[0].token,
        format!("{}\n", declared.to_json()).as_bytes(),
        now,
    );
    assert!(
        matches!(drain_events(&mut core).as_slice(), [LinkEvent::CapsChanged(c)] if *c == declared)
    );
    let job = core.next_encode_job().expect("encoding may start");
    assert_eq!(job.options().receiver, declared);
    assert_eq!(job.options().parallelism, 4);
    let encoded = job.run().unwrap();
    assert_eq!(encoded.method, Method::Raw, "the game declared only raw");
    assert!(encoded.frames.iter().all(|f| f.len() <= 2000));
    core.on_encoded(job.id, Ok(encoded));
    let mut game = Game::new(false);
    run(&mut core, &mut game, now);
    assert_eq!(game.done[&100], repetitive(20_000));
    let events = drain_events(&mut core);
    assert!(
        matches!(
            events.as_slice(),
            [LinkEvent::Delivered(d)] if d.id == 100 && d.method == Method::Raw && d.confirmed_by == Confirmation::Done
        ),
        "{events:?}"
    );

    // A new declaration on stdout (the module was updated): the next message uses zlib.
    let mut stdout = Stdout::new();
    let caps = br#"{"type":"caps","protocol":1,"decode":["zlib","raw"],"max_frame":8192,"max_message":16777216,"max_chunks":65536}"#;
    feed(&mut core, stdout.message(caps));
    assert!(
        matches!(drain_events(&mut core).as_slice(), [LinkEvent::CapsChanged(c)] if c.decode == [Method::Zlib, Method::Raw])
    );
    let id = core.send(repetitive(20_000));
    run(&mut core, &mut game, now);
    assert_eq!(game.done[&id], repetitive(20_000));
    let events = drain_events(&mut core);
    assert!(
        matches!(events.as_slice(), [LinkEvent::Delivered(d)] if d.method == Method::Zlib),
        "{events:?}"
    );
}

#[test]
fn the_window_bounds_commands_in_flight_over_all_messages() {
    let now = Instant::now();
    let mut core = LinkCore::new(config(), MessageIds::starting_at(1), now);
    answer_caps(&mut core, now);
    let a = core.send(noise(9_000));
    let b = core.send(noise(9_000));
    assert_eq!(run_encoding(&mut core), 2);
    let batch = drain_commands(&mut core, now);
    assert_eq!(batch.len(), 4, "in_flight is 4");
    assert!(
        batch
            .iter()
            .all(|c| matches!(c.kind, CommandKind::Recv { message, .. } if message == a))
    );
    let mut game = Game::new(false);
    // One answer frees one slot.
    let reply = game.answer(&batch[2]);
    core.on_reply(batch[2].token, reply.as_bytes(), now);
    let next = drain_commands(&mut core, now);
    assert_eq!(next.len(), 1);
    for c in batch
        .iter()
        .filter(|c| c.token != batch[2].token)
        .chain(&next)
    {
        let reply = game.answer(c);
        core.on_reply(c.token, reply.as_bytes(), now);
    }
    run(&mut core, &mut game, now);
    assert_eq!(game.done[&a], noise(9_000));
    assert_eq!(game.done[&b], noise(9_000));
    let delivered: Vec<u32> = drain_events(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            LinkEvent::Delivered(d) => Some(d.id),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [a, b]);
}

/// A link created now with `cfg` (ids from 50), its caps query answered and its events
/// drained; returned with the time it was created.
fn ready_core(cfg: LinkConfig) -> (LinkCore, Instant) {
    let now = Instant::now();
    let mut core = LinkCore::new(cfg, MessageIds::starting_at(50), now);
    answer_caps(&mut core, now);
    drain_events(&mut core);
    (core, now)
}

#[test]
fn deferred_verification_is_settled_by_the_received_report() {
    let (mut core, now) = ready_core(config());
    let mut game = Game::new(true);
    let id = send_and_run(&mut core, &mut game, 5_000, now);
    // Every chunk is held (`ok n/n`) but nothing is confirmed yet.
    assert!(drain_events(&mut core).is_empty());
    assert_eq!(core.pending_sends(), 1);
    assert!(game.verify(id));
    let mut stdout = Stdout::new();
    let report = format!(r#"{{"type":"received","id":{id},"status":"done"}}"#);
    feed(&mut core, stdout.message(report.as_bytes()));
    assert_delivered(&mut core, id, Confirmation::Stdout);
    assert_eq!(core.pending_sends(), 0);
    assert_eq!(core.poll_timeout(), None);
    // The same report again (a game that reports what `done` already settled): not a problem.
    feed(&mut core, stdout.message(report.as_bytes()));
    assert!(drain_events(&mut core).is_empty());
}

#[test]
fn without_a_report_the_link_asks_status_and_waits_while_the_game_verifies() {
    let cfg = LinkConfig {
        verify_after: Duration::from_secs(2),
        ..config()
    };
    let (mut core, now) = ready_core(cfg);
    let mut game = Game::new(true);
    let id = send_and_run(&mut core, &mut game, 5_000, now);
    let due = core.poll_timeout().expect("a status query is scheduled");
    assert_eq!(due, now + Duration::from_secs(2));
    assert!(
        drain_commands(&mut core, now).is_empty(),
        "not before it is due"
    );
    // Still verifying: `missing <id>` with an empty list.
    let q = drain_commands(&mut core, due);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].kind, CommandKind::Status { message: id });
    core.on_reply(q[0].token, game.status(id).as_bytes(), due);
    assert_eq!(game.status(id), format!("missing {id}"));
    assert!(drain_events(&mut core).is_empty());
    game.verify(id);
    let later = answer_status_when_due(&mut core, &game, id);
    assert_eq!(later, due + Duration::from_secs(2));
    assert_delivered(&mut core, id, Confirmation::Status);
}

#[test]
fn a_reconnect_asks_status_at_once() {
    let (mut core, now) = ready_core(config());
    let mut game = Game::new(true);
    let id = send_and_run(&mut core, &mut game, 3_000, now);
    game.verify(id);
    let soon = now + Duration::from_millis(10);
    assert!(drain_commands(&mut core, soon).is_empty());
    core.on_connected(soon);
    let commands = drain_commands(&mut core, soon);
    let kinds: Vec<CommandKind> = commands.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [CommandKind::Caps, CommandKind::Status { message: id }]
    );
    core.on_reply(commands[1].token, game.status(id).as_bytes(), soon);
    assert!(matches!(drain_events(&mut core).as_slice(), [LinkEvent::Delivered(d)] if d.id == id));
}

#[test]
fn failures_are_typed_and_name_the_message_and_the_protocol_error() {
    let (mut core, now) = ready_core(config());
    let mut game = Game::new(true);
    // The game dropped the message after holding it (status says `failed`).
    let id = send_and_run(&mut core, &mut game, 3_000, now);
    game.held.remove(&id);
    game.failed.insert(id, "MessageChecksumMismatch".into());
    answer_status_when_due(&mut core, &game, id);
    let err = only_send_failure(&mut core);
    assert_eq!(err.id, Some(id));
    assert_eq!(err.protocol_error(), Some("MessageChecksumMismatch"));
    assert!(err.to_string().contains(&format!("message {id}")), "{err}");

    // A `received` report with status failed.
    let id = send_and_run(&mut core, &mut game, 3_000, now);
    let mut stdout = Stdout::new();
    let report = format!(
        r#"{{"type":"received","id":{id},"status":"failed","error":"DecompressFailed","detail":"bad zlib"}}"#
    );
    feed(&mut core, stdout.message(report.as_bytes()));
    let events = drain_events(&mut core);
    assert!(
        matches!(
            events.as_slice(),
            [LinkEvent::SendFailed(SendError { id: Some(i), failure: SendFailure::Failed { error, detail } })]
                if *i == id && error == "DecompressFailed" && detail == "bad zlib"
        ),
        "{events:?}"
    );

    // A frame rejected for good by `recv`.
    let id = core.send(noise(3_000));
    run_encoding(&mut core);
    let batch = drain_commands(&mut core, now);
    core.on_reply(
        batch[0].token,
        format!("err {id} MethodNotAccepted raw is off").as_bytes(),
        now,
    );
    let err = only_send_failure(&mut core);
    assert_eq!(err.protocol_error(), Some("MethodNotAccepted"));
    assert_eq!(err.id, Some(id));
    // Replies to its other commands are ignored from now on.
    for c in &batch[1..] {
        core.on_reply(c.token, b"ok 1 1/2", now);
    }
    assert!(drain_events(&mut core).is_empty());
    assert_eq!(core.in_flight(), 0);
}

#[test]
fn chunks_lost_by_the_game_are_delivered_again_within_a_bound() {
    let cfg = LinkConfig {
        max_redeliveries: 1,
        ..config()
    };
    let (mut core, now) = ready_core(cfg);
    let mut game = Game::new(true);
    let id = core.send(noise(3_000));
    let first = run(&mut core, &mut game, now);
    let chunks = first
        .iter()
        .filter(|c| matches!(c.kind, CommandKind::Recv { .. }))
        .count();
    // The game restarted from a save and lost everything.
    game.lose_held_chunks();
    let due = answer_status_when_due(&mut core, &game, id);
    assert_eq!(game.status(id), format!("unknown {id}"));
    let again = run(&mut core, &mut game, due);
    assert_eq!(again.len(), chunks, "the whole message again");
    assert!(
        again
            .iter()
            .all(|c| matches!(c.kind, CommandKind::Recv { .. }))
    );
    // And once more: the bound is reached.
    game.lose_held_chunks();
    answer_status_when_due(&mut core, &game, id);
    let events = drain_events(&mut core);
    assert!(
        matches!(
            events.as_slice(),
            [LinkEvent::SendFailed(SendError { id: Some(i), failure: SendFailure::Lost { redeliveries: 1 } })] if *i == id
        ),
        "{events:?}"
    );
}

#[test]
fn a_chunk_the_game_dropped_on_its_deferred_check_is_the_only_one_sent_again() {
    let (mut core, now) = ready_core(config());
    let mut game = Game::new(true);
    let id = send_and_run(&mut core, &mut game, 5_000, now);
    assert!(game.counts[&id] > 2);
    // The deferred check found chunk 2 damaged on the way and dropped it (PROTOCOL.md 3): the
    // game misses it again.
    game.held.get_mut(&id).unwrap().remove(&2);
    let due = answer_status_when_due(&mut core, &game, id);
    let again = run(&mut core, &mut game, due);
    let kinds: Vec<CommandKind> = again.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [CommandKind::Recv {
            message: id,
            index: 2
        }]
    );
    assert!(game.verify(id));
    answer_status_when_due(&mut core, &game, id);
    let events = drain_events(&mut core);
    let [LinkEvent::Delivered(d)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!((d.id, d.chunks_resent), (id, 1), "{d:?}");
    assert_eq!(d.confirmed_by, Confirmation::Status);
}

#[test]
fn unanswered_caps_fall_back_to_the_protocols_assumption() {
    let now = Instant::now();
    let cfg = LinkConfig {
        max_caps_attempts: 2,
        caps_retry: Duration::from_millis(500),
        ..config()
    };
    let mut core = LinkCore::new(cfg, MessageIds::starting_at(1), now);
    core.send(noise(6_000));
    let c = drain_commands(&mut core, now);
    // A fresh save refuses the first Lua command.
    core.on_reply(
        c[0].token,
        b"Lua console commands will disable achievements. Please repeat the command to proceed.",
        now,
    );
    assert!(drain_commands(&mut core, now).is_empty());
    let retry = core.poll_timeout().unwrap();
    assert_eq!(retry, now + Duration::from_millis(500));
    let c = drain_commands(&mut core, retry);
    assert_eq!(c[0].kind, CommandKind::Caps);
    core.on_lost(c[0].token, retry);
    let events = drain_events(&mut core);
    assert!(
        matches!(
            events.as_slice(),
            [LinkEvent::Problem(Problem::CapsUnavailable {
                attempts: 2,
                ..
            })]
        ),
        "{events:?}"
    );
    let job = core.next_encode_job().expect("encoding goes ahead");
    assert_eq!(job.options().receiver, Capabilities::assumed());
    let e = job.run().unwrap();
    assert_eq!(e.method, Method::Raw);
    assert!(e.frames.iter().all(|f| f.len() <= 4000));
}

#[test]
fn staged_messages_are_pulled_with_their_own_window_and_acknowledged() {
    let mut cfg = config();
    cfg.pull.in_flight = 4;
    let (mut core, now) = ready_core(cfg);
    let payload = noise(700_000);
    let staged = encode(
        77,
        &payload,
        &EncodeOptions {
            method: MethodChoice::Only(Method::Raw),
            receiver: Capabilities::all(100_000),
            ..EncodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(staged.frames.len(), 8);
    let mut stdout = Stdout::new();
    let announcement = format!(
        r#"{{"type":"staged","id":77,"count":8,"wlen":{},"method":"raw","bytes":{}}}"#,
        staged.wire_len, staged.payload_len
    );
    // A player cannot fake the announcement through chat.
    let mut chat = b"2024-01-01 00:00:00 [CHAT] eve: \x0c".to_vec();
    chat.extend_from_slice(announcement.as_bytes());
    chat.push(b'\n');
    feed(&mut core, stdout.lines(&chat));
    assert!(drain_commands(&mut core, now).is_empty());
    assert!(
        matches!(drain_events(&mut core).as_slice(), [LinkEvent::Log(l)] if l.text.contains("[CHAT] eve"))
    );
    feed(&mut core, stdout.message(announcement.as_bytes()));
    // Pulls have their own window (4 here), beside the 4 slots into the game.
    let pulls = drain_commands(&mut core, now);
    assert_eq!(
        pulls.iter().map(|c| c.kind).collect::<Vec<_>>(),
        (1..=4)
            .map(|index| CommandKind::Pull { message: 77, index })
            .collect::<Vec<_>>()
    );
    let send = core.send(noise(2_000));
    run_encoding(&mut core);
    let recv = drain_commands(&mut core, now);
    assert!(
        !recv.is_empty()
            && recv
                .iter()
                .all(|c| matches!(c.kind, CommandKind::Recv { message, .. } if message == send))
    );
    let mut pending = pulls;
    let mut acked = false;
    while let Some(c) = pending.pop() {
        match c.kind {
            CommandKind::Pull { index, .. } => {
                let frame = &staged.frames[index as usize - 1];
                core.on_reply(c.token, format!("{frame}\n").as_bytes(), now);
            }
            CommandKind::Ack { message } => {
                assert_eq!(message, 77);
                core.on_reply(c.token, b"ok 77\n", now);
                acked = true;
            }
            other => panic!("{other:?}"),
        }
        pending.extend(
            std::iter::from_fn(|| core.poll_command(now))
                .filter(|c| !matches!(c.kind, CommandKind::Recv { .. })),
        );
    }
    assert!(acked);
    let events = drain_events(&mut core);
    let received: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::Received(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 1, "{events:?}");
    assert_eq!(received[0].id, 77);
    assert_eq!(received[0].path, Path::Pulled);
    assert_eq!(received[0].payload, payload);
    assert_eq!(core.pending_pulls(), 0);
    assert_eq!(core.stats().received_pulled, 1);
}

#[test]
fn inline_messages_and_log_lines_arrive_in_stdout_order() {
    let (mut core, now) = ready_core(config());
    let mut stdout = Stdout::new();
    feed(
        &mut core,
        stdout.lines(b"   1.234 Info Something happened\r\n"),
    );
    feed(
        &mut core,
        stdout.message(br#"{"type":"player","name":"alice"}"#),
    );
    feed(
        &mut core,
        stdout.lines(b"2024-01-01 00:00:00 [CHAT] alice: hi\n"),
    );
    let events = drain_events(&mut core);
    assert!(
        matches!(&events[0], LinkEvent::Log(l) if l.text == "   1.234 Info Something happened")
    );
    assert!(matches!(&events[1], LinkEvent::Received(m)
        if m.path == Path::Stdout && m.payload == br#"{"type":"player","name":"alice"}"#));
    assert!(matches!(&events[2], LinkEvent::Log(l) if l.text.ends_with("alice: hi")));
    assert_eq!(events.len(), 3);
    assert!(drain_commands(&mut core, now).is_empty());
}

#[test]
fn reports_and_announcements_that_make_no_sense_are_problems_not_actions() {
    let (mut core, now) = ready_core(config());
    let mut stdout = Stdout::new();
    for payload in [
        &br#"{"type":"received","id":999,"status":"done"}"#[..],
        br#"{"type":"staged","id":5,"count":0,"wlen":10,"method":"raw","bytes":10}"#,
        br#"{"type":"staged","id":6,"count":100000,"wlen":100000000,"method":"raw","bytes":100000000}"#,
    ] {
        feed(&mut core, stdout.message(payload));
    }
    let events = drain_events(&mut core);
    assert!(
        matches!(
            events[0],
            LinkEvent::Problem(Problem::UnknownReport { id: 999 })
        ),
        "{events:?}"
    );
    assert!(
        matches!(
            events[1],
            LinkEvent::Problem(Problem::BadControlMessage { .. })
        ),
        "{events:?}"
    );
    assert!(
        matches!(&events[2], LinkEvent::ReceiveFailed(e) if e.id == 6),
        "{events:?}"
    );
    assert_eq!(events.len(), 3);
    assert!(
        drain_commands(&mut core, now).is_empty(),
        "nothing is pulled"
    );
}

#[test]
fn a_stopped_transport_fails_everything_pending() {
    let (mut core, now) = ready_core(config());
    let a = core.send(noise(3_000));
    let b = core.send(noise(3_000));
    run_encoding(&mut core);
    drain_commands(&mut core, now);
    core.on_transport_stopped("the server rejected the password".into());
    let failed: Vec<Option<u32>> = drain_events(&mut core)
        .into_iter()
        .map(|e| match e {
            LinkEvent::SendFailed(SendError {
                id,
                failure: SendFailure::LinkClosed { reason },
            }) => {
                assert!(reason.contains("password"));
                id
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(failed, [Some(a), Some(b)]);
    let c = core.send(b"later".to_vec());
    assert!(
        matches!(drain_events(&mut core).as_slice(), [LinkEvent::SendFailed(e)] if e.id == Some(c))
    );
    assert!(core.poll_command(now).is_none());
}

#[test]
fn a_panicked_encoder_fails_the_message_with_its_own_error() {
    let (mut core, _) = ready_core(config());
    let id = core.send(noise(3_000));
    let job = core.next_encode_job().expect("an encode job");
    core.on_encoder_panicked(id, "task 3 panicked".into());
    let err = only_send_failure(&mut core);
    assert_eq!(
        err,
        SendError {
            id: Some(id),
            failure: SendFailure::EncoderPanicked {
                reason: "task 3 panicked".into()
            }
        }
    );
    assert_eq!(err.protocol_error(), None);
    // A late result of the same job changes nothing.
    core.on_encoded(id, job.run());
    assert!(drain_events(&mut core).is_empty());
    assert_eq!(core.pending_sends(), 0);
}

#[test]
fn inconsistent_replies_never_leave_a_message_hanging() {
    // Replies that count fewer chunks than the game holds (a resent chunk answered `ok 1/2`
    // after a status round confirmed the other) can leave the `Delivery` with
    // every chunk confirmed and nothing to send. Whatever the delivery makes of them, the link
    // settles the message with `status` instead of waiting forever.
    let cfg = LinkConfig {
        in_flight: 2,
        ..config()
    };
    let (mut core, now) = ready_core(cfg);
    let id = core.send(noise(1_500));
    run_encoding(&mut core);
    let sent = drain_commands(&mut core, now);
    assert_eq!(sent.len(), 2);
    core.on_lost(sent[0].token, now);
    core.on_reply(sent[1].token, format!("ok {id} 1/2").as_bytes(), now);
    let mut t = now;
    let mut statuses = 0;
    for _ in 0..20 {
        let batch = drain_commands(&mut core, t);
        if batch.is_empty() {
            match core.poll_timeout() {
                Some(due) => t = due,
                None => break,
            }
            continue;
        }
        for c in batch {
            let reply = match c.kind {
                CommandKind::Recv { .. } => format!("ok {id} 1/2"),
                CommandKind::Status { .. } => {
                    statuses += 1;
                    if statuses == 1 {
                        format!("missing {id} 2")
                    } else {
                        format!("done {id}")
                    }
                }
                other => panic!("{other:?}"),
            };
            core.on_reply(c.token, reply.as_bytes(), t);
        }
    }
    assert_delivered(&mut core, id, Confirmation::Status);
    assert_eq!(core.pending_sends(), 0);
}
