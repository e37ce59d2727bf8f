//! The delivery state machine against a simulated game in virtual time (no sockets, no clock).
//!
//! The simulated game follows the stream model of `docs/GAME_FACTS.md`: every command
//! in flight streams into the game at 100 bytes per tick in parallel, and runs at the next even
//! tick once fully streamed, so a short command overtakes a long one. The game side of the
//! protocol is the real codec `Reassembler` (replies as in PROTOCOL.md 5.3), so a message only
//! completes if the exact frames arrived. Faults, drawn from a seed: replies lost after the
//! command ran, commands lost before they ran, connection drops (commands fully streamed still
//! run; the rest are lost), and extra random delays.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use invsync_codec::{
    Capabilities, EncodeOptions, Error as CodecError, Method, MethodChoice, Outcome, Reassembler,
    ReassemblerConfig, encode,
};
use invsync_host::{Delivery, DeliveryConfig, DeliveryError, DeliveryStats, SendToken};
use invsync_test_support::xorshift::XorShift64;
use proptest::prelude::*;

const BYTES_PER_TICK: usize = 100;
/// One game tick, rounded up to whole microseconds.
const TICK: Duration =
    Duration::from_micros(1_000_000u64.div_ceil(invsync_codec::TICKS_PER_SECOND as u64));

#[derive(Clone, Debug)]
struct Faults {
    seed: u64,
    /// Per mille of commands that run but whose reply is lost.
    lose_reply: u32,
    /// Per mille of commands lost before they run.
    lose_command: u32,
    /// Per mille chance per tick that the connection drops.
    disconnect: u32,
    /// Ticks until the host is connected again.
    reconnect_after: u64,
    /// Up to this many extra ticks before a command starts streaming.
    jitter: u64,
    /// Ticks after which the host gives up on a reply (the RCON command timeout).
    timeout: u64,
}

impl Faults {
    fn none() -> Self {
        Faults {
            seed: 1,
            lose_reply: 0,
            lose_command: 0,
            disconnect: 0,
            reconnect_after: 30,
            jitter: 0,
            timeout: 600,
        }
    }
}

struct InFlight {
    token: SendToken,
    text: String,
    start_tick: u64,
    streamed_at: u64,
    lose_reply: bool,
    lose_command: bool,
}

#[derive(Default, Debug)]
struct GameLog {
    /// Chunk deliveries that the reassembler reported as duplicates.
    duplicates: u64,
    /// Chunk commands that were lost before running.
    chunk_commands_lost: u64,
    /// Chunk commands that ran.
    chunk_commands_run: u64,
    payload: Option<Vec<u8>>,
    errors: Vec<CodecError>,
}

/// The game: the codec reassembler behind the `recv`/`status` remote interface.
struct Game {
    reassembler: Reassembler,
    completed: BTreeMap<u32, ()>,
    log: GameLog,
}

impl Game {
    fn new() -> Self {
        Game {
            // No ageing: long fault-heavy runs would otherwise expire the message, and the
            // resends that follow are right but would blur what these tests count.
            reassembler: Reassembler::new(ReassemblerConfig {
                max_frame: 8192,
                max_age_ticks: None,
                max_age_frames: None,
                ..ReassemblerConfig::default()
            }),
            completed: BTreeMap::new(),
            log: GameLog::default(),
        }
    }

    /// Runs one command and returns its `rcon.print` output.
    fn run(&mut self, text: &str, tick: u64) -> String {
        if let Some(frame) = recv_argument(text) {
            self.log.chunk_commands_run += 1;
            return match self.reassembler.push(frame.as_bytes(), tick) {
                Ok(Outcome::Stored {
                    id, have, count, ..
                }) => format!("ok {id} {have}/{count}\n"),
                Ok(Outcome::Duplicate { id, .. }) => {
                    self.log.duplicates += 1;
                    match self.reassembler.progress().iter().find(|p| p.id == id) {
                        Some(p) => format!("ok {id} {}/{}\n", p.have, p.count),
                        None => format!("done {id}\n"),
                    }
                }
                Ok(Outcome::Complete(message)) => {
                    self.completed.insert(message.id, ());
                    self.log.payload = Some(message.payload);
                    format!("done {}\n", message.id)
                }
                Err(err) => {
                    let line = format!("err - {} {err}\n", err.name());
                    self.log.errors.push(err);
                    line
                }
            };
        }
        if let Some(id) = status_argument(text) {
            if self.completed.contains_key(&id) {
                return format!("done {id}\n");
            }
            return match self.reassembler.missing(id) {
                Some(missing) => {
                    let list: Vec<String> = missing.iter().map(u32::to_string).collect();
                    format!("missing {id} {}\n", list.join(","))
                }
                None => format!("unknown {id}\n"),
            };
        }
        format!("Unknown command {text:?}\n")
    }
}

/// The long-bracket argument of a `recv` command (test-side parser of the command format).
fn recv_argument(text: &str) -> Option<&str> {
    let literal = text
        .strip_prefix("/sc remote.call(\"invsync\",\"recv\",")?
        .strip_suffix(')')?;
    let level = literal
        .strip_prefix('[')?
        .bytes()
        .take_while(|&b| b == b'=')
        .count();
    let open = format!("[{}[", "=".repeat(level));
    let close = format!("]{}]", "=".repeat(level));
    literal
        .strip_prefix(open.as_str())?
        .strip_suffix(close.as_str())
}

fn status_argument(text: &str) -> Option<u32> {
    text.strip_prefix("/sc remote.call(\"invsync\",\"status\",")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

struct Run {
    outcome: Result<(), DeliveryError>,
    ticks: u64,
    log: GameLog,
    stats: DeliveryStats,
    lost_replies_of_run_chunks: u64,
}

/// Drives `delivery` against the simulated game until it ends or `max_ticks` pass.
fn simulate(mut delivery: Delivery, faults: &Faults, max_ticks: u64) -> Run {
    let t0 = Instant::now();
    let mut rng = XorShift64(faults.seed | 1);
    let mut game = Game::new();
    let mut in_flight: Vec<InFlight> = Vec::new();
    // Replies that never come: the host learns at this tick that the command is lost.
    let mut host_timeouts: HashMap<SendToken, u64> = HashMap::new();
    let mut connected_at: Option<u64> = Some(0);
    let mut lost_replies_of_run_chunks = 0;
    let mut tick = 0;
    while tick < max_ticks && delivery.outcome().is_none() {
        let now = t0 + TICK * tick as u32;
        // The connection drops: commands fully streamed still run (the server holds them) but
        // their replies are lost; the others never run. The host sees every outstanding command
        // fail at once, and can send again once reconnected.
        if connected_at.is_some_and(|at| at <= tick) && rng.per_mille(faults.disconnect) {
            for command in in_flight.iter_mut() {
                if command.streamed_at > tick {
                    command.lose_command = true;
                }
                command.lose_reply = true;
                host_timeouts.insert(command.token, tick);
            }
            connected_at = Some(tick + faults.reconnect_after);
        }
        if let Some(at) = connected_at
            && at <= tick
        {
            // The host sends what the window allows.
            while let Some(command) = delivery.poll_command(now) {
                let start_tick = tick
                    + if faults.jitter > 0 {
                        rng.next_u64() % (faults.jitter + 1)
                    } else {
                        0
                    };
                let streamed_at = start_tick + command.text.len().div_ceil(BYTES_PER_TICK) as u64;
                let lose_command = rng.per_mille(faults.lose_command);
                let lose_reply = !lose_command && rng.per_mille(faults.lose_reply);
                if lose_command || lose_reply {
                    host_timeouts.insert(command.token, tick + faults.timeout);
                }
                in_flight.push(InFlight {
                    token: command.token,
                    text: command.text,
                    start_tick,
                    streamed_at,
                    lose_reply,
                    lose_command,
                });
            }
        }
        // Commands fully streamed run at even ticks, in the order they finished streaming.
        if tick % 2 == 0 {
            let (ready, waiting): (Vec<InFlight>, Vec<InFlight>) = in_flight
                .drain(..)
                .partition(|c| c.streamed_at <= tick && c.start_tick <= tick);
            in_flight = waiting;
            let mut ready = ready;
            ready.sort_by_key(|c| (c.streamed_at, c.token));
            for command in ready {
                if command.lose_command {
                    if recv_argument(&command.text).is_some() {
                        game.log.chunk_commands_lost += 1;
                    }
                    continue;
                }
                let reply = game.run(&command.text, tick);
                if command.lose_reply {
                    if recv_argument(&command.text).is_some() {
                        lost_replies_of_run_chunks += 1;
                    }
                    continue;
                }
                delivery.on_reply(command.token, reply.as_bytes(), now);
            }
        }
        // Host-side timeouts.
        let due: Vec<SendToken> = host_timeouts
            .iter()
            .filter(|(_, at)| **at <= tick)
            .map(|(token, _)| *token)
            .collect();
        let mut due = due;
        due.sort();
        for token in due {
            host_timeouts.remove(&token);
            delivery.on_lost(token);
        }
        tick += 1;
    }
    Run {
        outcome: delivery
            .outcome()
            .cloned()
            .unwrap_or_else(|| panic!("no outcome within {max_ticks} ticks: {delivery:?}")),
        ticks: tick,
        log: game.log,
        stats: delivery.stats().clone(),
        lost_replies_of_run_chunks,
    }
}

fn text_payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift64(seed | 1);
    (0..len)
        .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789 {}[]:,\"]="[(rng.next_u64() % 45) as usize])
        .collect()
}

fn frames(id: u32, payload: &[u8], max_frame: usize, method: Method) -> Vec<String> {
    let options = EncodeOptions {
        method: MethodChoice::Only(method),
        receiver: Capabilities::all(max_frame),
        ..EncodeOptions::default()
    };
    encode(id, payload, &options).unwrap().frames
}

#[test]
fn without_faults_the_window_streams_in_parallel_and_nothing_is_resent() {
    let payload = text_payload(60_000, 7);
    let frames = frames(1, &payload, 2000, Method::Raw);
    let count = frames.len();
    let command_bytes: usize = frames.iter().map(|f| f.len() + 38).sum();
    for in_flight in [1usize, 4, 16] {
        let config = DeliveryConfig {
            in_flight,
            ..DeliveryConfig::default()
        };
        let run = simulate(
            Delivery::new(1, frames.clone(), config).unwrap(),
            &Faults::none(),
            100_000,
        );
        assert_eq!(run.outcome, Ok(()));
        assert_eq!(run.log.payload.as_deref(), Some(&payload[..]));
        assert_eq!(run.stats.chunks_resent, 0);
        assert_eq!(run.stats.status_queries, 0);
        assert_eq!(run.stats.commands, count as u64);
        assert_eq!(run.log.duplicates, 0);
        // The stream model's limit: bytes / (streams x 100 per tick), plus per round of
        // `in_flight` commands up to three ticks: the last partial segment, the wait for an even
        // tick, and the tick on which the freed slot is refilled. A window that did not stream
        // in parallel would take `in_flight` times longer.
        let rounds = count.div_ceil(in_flight) as u64;
        let limit = (command_bytes / (in_flight * BYTES_PER_TICK)) as u64;
        assert!(
            run.ticks <= limit + 3 * rounds + 2,
            "in_flight {in_flight}: {} ticks, model limit {limit} + {rounds} rounds",
            run.ticks
        );
    }
}

#[test]
fn lost_replies_are_settled_by_status_without_resending() {
    let payload = text_payload(30_000, 3);
    let frames = frames(2, &payload, 1500, Method::Raw);
    let faults = Faults {
        lose_reply: 200,
        seed: 11,
        ..Faults::none()
    };
    let run = simulate(
        Delivery::new(2, frames, DeliveryConfig::default()).unwrap(),
        &faults,
        200_000,
    );
    assert_eq!(run.outcome, Ok(()));
    assert_eq!(run.log.payload.as_deref(), Some(&payload[..]));
    assert!(
        run.lost_replies_of_run_chunks > 0,
        "the seed must lose some replies"
    );
    assert_eq!(
        run.stats.chunks_resent, 0,
        "the game had every chunk whose reply was lost"
    );
    assert_eq!(run.log.duplicates, 0);
}

#[test]
fn lost_commands_are_resent_exactly_once_each() {
    let payload = text_payload(30_000, 4);
    let frames = frames(3, &payload, 1500, Method::Raw);
    let faults = Faults {
        lose_command: 150,
        seed: 5,
        ..Faults::none()
    };
    let run = simulate(
        Delivery::new(3, frames, DeliveryConfig::default()).unwrap(),
        &faults,
        200_000,
    );
    assert_eq!(run.outcome, Ok(()));
    assert_eq!(run.log.payload.as_deref(), Some(&payload[..]));
    assert!(run.log.chunk_commands_lost > 0);
    assert_eq!(run.stats.chunks_resent, run.log.chunk_commands_lost);
    assert_eq!(run.log.duplicates, 0);
}

#[test]
fn a_reconnect_resumes_the_message_instead_of_restarting_it() {
    let payload = text_payload(80_000, 9);
    let frames = frames(4, &payload, 2000, Method::Raw);
    let count = frames.len() as u64;
    let faults = Faults {
        disconnect: 25,
        reconnect_after: 40,
        seed: 21,
        ..Faults::none()
    };
    let config = DeliveryConfig {
        in_flight: 8,
        ..DeliveryConfig::default()
    };
    let run = simulate(Delivery::new(4, frames, config).unwrap(), &faults, 400_000);
    assert_eq!(run.outcome, Ok(()));
    assert_eq!(run.log.payload.as_deref(), Some(&payload[..]));
    assert!(
        run.log.chunk_commands_lost > 0,
        "the seed must drop the connection mid-transfer"
    );
    // Only what was lost is sent again: far less than a restart per drop would cost.
    assert_eq!(run.stats.chunks_resent, run.log.chunk_commands_lost);
    assert!(run.log.chunk_commands_run - run.log.duplicates == count);
    assert_eq!(run.log.duplicates, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any mix of faults, reordering and window size: the exact payload arrives, the delivery
    /// reports success, and chunks are resent only when their command was really lost.
    #[test]
    fn any_fault_mix_delivers_the_exact_payload(
        len in 0usize..20_000,
        payload_seed in any::<u64>(),
        max_frame in 200usize..3000,
        in_flight in 1usize..20,
        method in prop_oneof![Just(Method::Raw), Just(Method::Lz4), Just(Method::Zlib)],
        seed in any::<u64>(),
        lose_reply in 0u32..300,
        lose_command in 0u32..300,
        disconnect in 0u32..10,
        jitter in 0u64..20,
    ) {
        let payload = text_payload(len, payload_seed);
        let frames = frames(5, &payload, max_frame, method);
        let faults = Faults { seed, lose_reply, lose_command, disconnect, reconnect_after: 25, jitter, timeout: 600 };
        let config = DeliveryConfig { in_flight, max_rounds_without_progress: 50, ..DeliveryConfig::default() };
        let run = simulate(Delivery::new(5, frames, config).unwrap(), &faults, 2_000_000);
        prop_assert_eq!(&run.outcome, &Ok(()));
        prop_assert_eq!(run.log.payload.as_deref(), Some(&payload[..]));
        prop_assert!(run.log.errors.is_empty(), "{:?}", run.log.errors);
        prop_assert_eq!(run.stats.chunks_resent, run.log.chunk_commands_lost);
        prop_assert_eq!(run.log.duplicates, 0);
    }
}
