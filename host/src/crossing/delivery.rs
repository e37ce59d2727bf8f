//! Delivering one message's frames into the game (host -> game), as a sans-I/O state machine.
//!
//! Each frame goes in its own command ([`DeliveryConfig::recv_entry`]: the game's custom command
//! or the `recv` remote call); up to [`DeliveryConfig::in_flight`] commands are
//! outstanding at once, because the game streams every command in parallel at about 100 bytes
//! per tick, so the number in flight multiplies the rate. Replies are matched to commands by the
//! caller (the RCON client matches request ids), so the game may execute commands in any order.
//!
//! A command whose reply never comes (timeout, lost connection) has an unknown outcome: the
//! frame may or may not be stored. Such chunks are not resent blindly. Once everything else has
//! been sent and answered, one `status` query asks the game which chunks it still misses, and
//! only those are resent. After a reconnect the same happens, so a transfer resumes where it
//! was instead of starting over. A rejected frame is retried only for errors that a resend can
//! cure (a frame damaged on the way, a busy receiver); other rejections end the delivery.
//!
//! Usage: loop { send every [`Delivery::poll_command`]; feed each outcome to
//! [`Delivery::on_reply`] or [`Delivery::on_lost`]; stop at [`Delivery::outcome`] }.
//! [`Delivery::poll_timeout`] says when to poll again while the game asked us to wait.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use invsync_codec::{Error as CodecError, ErrorKind, Frame, Header};
use invsync_rcon_transport::{GameReply, RecvEntry, parse_reply, status_command};
use thiserror::Error;

use super::header_mismatch;
use crate::control::printable;

/// Settings of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Commands outstanding at once. Default 16: throughput into the game is about
    /// `in_flight x 100` bytes per tick, and each command costs about 40 bytes of wrapper, so
    /// more streams beat bigger frames; the benchmark (`invsync bench --in-flight K`) measures it.
    pub in_flight: usize,
    /// Resends of one chunk after rejections a resend can cure. Default 3.
    pub max_chunk_retries: u32,
    /// Wait after the game reports `TooManyMessages` (it is busy). Default 1 s.
    pub busy_retry_delay: Duration,
    /// Status rounds (after lost replies) in a row that recover no chunk before giving up.
    /// Default 10.
    pub max_rounds_without_progress: u32,
    /// Replies in a row that are not protocol lines before giving up. Default 3. (The first
    /// `/sc` on a fresh save is answered with a warning instead of running: one is expected.)
    pub max_unrecognized_replies: u32,
    /// How frames enter the game: its custom command when it declares one (`recv_command`),
    /// the `recv` remote call otherwise. Default: the remote call.
    pub recv_entry: RecvEntry,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            in_flight: 16,
            max_chunk_retries: 3,
            busy_retry_delay: Duration::from_secs(1),
            max_rounds_without_progress: 10,
            max_unrecognized_replies: 3,
            recv_entry: RecvEntry::RemoteCall,
        }
    }
}

/// Identifies one command handed out by [`Delivery::poll_command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendToken(pub u64);

/// What a command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Delivers chunk `index` (1-based, as on the wire).
    Chunk {
        /// Chunk number.
        index: u32,
    },
    /// Asks which chunks are missing.
    Status,
}

/// A command to send over RCON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCommand {
    /// Pass it back with the outcome.
    pub token: SendToken,
    /// What the command does.
    pub purpose: Purpose,
    /// The RCON command text.
    pub text: String,
}

/// Counters of one delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Commands handed out (chunks and status queries).
    pub commands: u64,
    /// Chunk commands beyond the first for each chunk.
    pub chunks_resent: u64,
    /// Status queries handed out.
    pub status_queries: u64,
    /// Commands whose reply never came.
    pub lost: u64,
    /// Replies that were not protocol lines.
    pub unrecognized: u64,
    /// Bytes of command text handed out.
    pub command_bytes: u64,
}

/// Why the delivery of message `id` ended without the game holding it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("message {id}: {failure}")]
pub struct DeliveryError {
    /// The message id.
    pub id: u32,
    /// What went wrong.
    pub failure: DeliveryFailure,
}

/// What went wrong in a [`DeliveryError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeliveryFailure {
    /// No frames were given.
    #[error("a delivery needs at least one frame")]
    NoFrames,
    /// A frame given fails the codec's checks (syntax, frame checksum).
    #[error("frame {position} of {count} is not a valid frame: {error} (protocol error {})", error.name())]
    UnreadableFrame {
        /// 1-based position in the list given.
        position: usize,
        /// Frames given.
        count: usize,
        /// The codec's error.
        error: CodecError,
    },
    /// A frame given is not chunk `position/count` of the message, or differs from the first
    /// frame in a field all chunks of a message share.
    #[error("frame {position} of {count} is not chunk {position}/{count} of it: {reason}")]
    WrongFrame {
        /// 1-based position in the list given.
        position: usize,
        /// Frames given.
        count: usize,
        /// How it differs.
        reason: String,
    },
    /// The game rejected the message, or a chunk more often than retries allow.
    #[error("the game rejected {}: {name} {detail}", chunk.map_or("it".to_owned(), |c| format!("chunk {c}")))]
    Rejected {
        /// The chunk rejected, if the rejection was about one.
        chunk: Option<u32>,
        /// Protocol error name (PROTOCOL.md 3.1), or the module's own (`BadArgument`).
        name: String,
        /// The game's text.
        detail: String,
    },
    /// Replies that are not protocol lines, too many in a row.
    #[error(
        "the game answered a {command} command with {text:?}, which is not an invsync reply (is \
         the invsync module loaded in the game?)"
    )]
    UnexpectedReply {
        /// `recv` or `status`.
        command: &'static str,
        /// The reply (cut to a bounded excerpt).
        text: String,
    },
    /// A protocol reply about another message or with another chunk count.
    #[error("the game's reply {text:?} does not match this message ({count} chunks)")]
    MismatchedReply {
        /// The message's chunk count.
        count: u32,
        /// The reply, as parsed.
        text: String,
    },
    /// Lost replies and status rounds that recover nothing.
    #[error(
        "gave up after {rounds} status rounds in a row without progress ({missing} chunks still \
         unconfirmed; commands time out or the connection keeps failing)"
    )]
    NoProgress {
        /// Status rounds without progress.
        rounds: u32,
        /// Chunks not confirmed.
        missing: usize,
    },
    /// A command could not be sent at all (for example longer than the client allows).
    #[error("a command cannot be sent: {reason}")]
    Unsendable {
        /// Why.
        reason: String,
    },
}

impl DeliveryFailure {
    /// The protocol error name (PROTOCOL.md 3.1) behind the failure, if there is one.
    pub fn protocol_error(&self) -> Option<&str> {
        match self {
            DeliveryFailure::Rejected { name, .. } => Some(name),
            DeliveryFailure::UnreadableFrame { error, .. } => Some(error.name()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Pending,
    InFlight,
    Stored,
    /// Sent, outcome unknown.
    Uncertain,
}

/// How a rejection is handled.
enum Remedy {
    /// The frame was damaged on the way: resend it.
    Resend,
    /// The receiver is full for now: wait and resend.
    Wait,
    /// Resending cannot help.
    Fatal,
}

/// How a rejection the game names `name` is handled (PROTOCOL.md 5.3): damage in transit
/// (characters changed, cut or lost on the way) makes the codec report one of the first four
/// kinds for an intact frame, and the next copy may arrive intact; a receiver holding as many
/// messages as it may will take the frame later. Names the codec does not define (the module's
/// own, such as `BadArgument`) and every other kind are final.
fn remedy(name: &str) -> Remedy {
    match ErrorKind::from_name(name) {
        Some(
            ErrorKind::FrameChecksumMismatch
            | ErrorKind::ForbiddenCharacter
            | ErrorKind::InvalidUtf8
            | ErrorKind::NotAFrame,
        ) => Remedy::Resend,
        Some(ErrorKind::TooManyMessages) => Remedy::Wait,
        _ => Remedy::Fatal,
    }
}

/// One message on its way into the game.
#[derive(Debug)]
pub struct Delivery {
    id: u32,
    frames: Vec<String>,
    chunks: Vec<Chunk>,
    sends: Vec<u32>,
    retries: Vec<u32>,
    /// Chunks to send, longest frame first (ties by index): streams run side by side and each
    /// takes the next chunk when it is free, so the longest going first evens out what each
    /// stream carries (longest-processing-time first), and the last round is the short frames.
    pending: BTreeSet<(Reverse<usize>, u32)>,
    uncertain: usize,
    stored: usize,
    in_flight: HashMap<SendToken, Purpose>,
    next_token: u64,
    not_before: Option<Instant>,
    rounds_without_progress: u32,
    stored_at_last_round: usize,
    unrecognized_in_row: u32,
    config: DeliveryConfig,
    stats: DeliveryStats,
    outcome: Option<Result<(), DeliveryError>>,
}

impl Delivery {
    /// A delivery of `frames`, which must be chunks `1/n ..= n/n` of message `id` in order (as
    /// the codec's encoder produces them), each passing the codec's frame checks.
    pub fn new(
        id: u32,
        frames: Vec<String>,
        config: DeliveryConfig,
    ) -> Result<Self, DeliveryError> {
        let error = |failure| DeliveryError { id, failure };
        let count = frames.len();
        let wrong = |position, reason| {
            error(DeliveryFailure::WrongFrame {
                position,
                count,
                reason,
            })
        };
        if count == 0 {
            return Err(error(DeliveryFailure::NoFrames));
        }
        let count32 = u32::try_from(count)
            .map_err(|_| wrong(count, format!("a message has at most {} chunks", u32::MAX)))?;
        let mut first: Option<Header> = None;
        for (index, frame) in (1..=count32).zip(&frames) {
            let position = index as usize;
            let header = Frame::parse(frame.as_bytes())
                .map_err(|e| {
                    error(DeliveryFailure::UnreadableFrame {
                        position,
                        count,
                        error: e,
                    })
                })?
                .header;
            let want = Header {
                id,
                index,
                count: count32,
                ..*first.get_or_insert(header)
            };
            if let Some(reason) = header_mismatch(&header, &want) {
                return Err(wrong(position, reason));
            }
        }
        Ok(Delivery {
            id,
            chunks: vec![Chunk::Pending; count],
            sends: vec![0; count],
            retries: vec![0; count],
            pending: (1..=count as u32)
                .map(|i| (Reverse(frames[i as usize - 1].len()), i))
                .collect(),
            uncertain: 0,
            stored: 0,
            in_flight: HashMap::new(),
            next_token: 0,
            not_before: None,
            rounds_without_progress: 0,
            stored_at_last_round: 0,
            unrecognized_in_row: 0,
            config,
            stats: DeliveryStats::default(),
            outcome: None,
            frames,
        })
    }

    /// A delivery of a message whose chunks were all sent before, of which the game now misses
    /// `missing` (1-based chunk numbers; others are ignored): only those are sent, and each
    /// send counts as a resend. `frames` as for [`Delivery::new`].
    pub fn resume(
        id: u32,
        frames: Vec<String>,
        config: DeliveryConfig,
        missing: &[u32],
    ) -> Result<Self, DeliveryError> {
        let mut delivery = Delivery::new(id, frames, config)?;
        let missing: BTreeSet<u32> = missing.iter().copied().collect();
        for index in 1..=delivery.count() {
            delivery.sends[index as usize - 1] = 1;
            if !missing.contains(&index) {
                delivery.set(index, Chunk::Stored);
            }
        }
        Ok(delivery)
    }

    /// The message id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Number of chunks.
    pub fn count(&self) -> u32 {
        self.frames.len() as u32
    }

    /// Chunks the game has confirmed.
    pub fn confirmed(&self) -> usize {
        self.stored
    }

    /// Commands handed out and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }

    /// `Some(Ok(()))` once the game holds the whole message, `Some(Err(_))` if it never will.
    pub fn outcome(&self) -> Option<&Result<(), DeliveryError>> {
        self.outcome.as_ref()
    }

    /// When to call [`Delivery::poll_command`] again while waiting on a busy game.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            None
        } else {
            self.not_before
        }
    }

    /// The next command to send, if the window and the state allow one now.
    pub fn poll_command(&mut self, now: Instant) -> Option<DeliveryCommand> {
        if self.outcome.is_some() || self.in_flight.len() >= self.config.in_flight.max(1) {
            return None;
        }
        if let Some(not_before) = self.not_before {
            if now < not_before {
                return None;
            }
            self.not_before = None;
        }
        if let Some((_, index)) = self.pending.pop_first() {
            let slot = index as usize - 1;
            self.chunks[slot] = Chunk::InFlight;
            if self.sends[slot] > 0 {
                self.stats.chunks_resent += 1;
            }
            self.sends[slot] += 1;
            let text = self.config.recv_entry.command(&self.frames[slot]);
            return Some(self.hand_out(Purpose::Chunk { index }, text));
        }
        if self.uncertain > 0 && self.in_flight.is_empty() {
            if self.stored == self.stored_at_last_round {
                self.rounds_without_progress += 1;
            } else {
                self.rounds_without_progress = 0;
            }
            self.stored_at_last_round = self.stored;
            if self.rounds_without_progress > self.config.max_rounds_without_progress {
                self.fail(DeliveryFailure::NoProgress {
                    rounds: self.rounds_without_progress - 1,
                    missing: self.frames.len() - self.stored,
                });
                return None;
            }
            self.stats.status_queries += 1;
            let text = status_command(self.id);
            return Some(self.hand_out(Purpose::Status, text));
        }
        None
    }

    /// The reply body to command `token`.
    pub fn on_reply(&mut self, token: SendToken, body: &[u8], now: Instant) {
        let Some(purpose) = self.in_flight.remove(&token) else {
            return;
        };
        if self.outcome.is_some() {
            return;
        }
        let reply = parse_reply(body, self.frames.len());
        if let GameReply::Unrecognized { text } = &reply {
            self.stats.unrecognized += 1;
            self.unrecognized_in_row += 1;
            if self.unrecognized_in_row > self.config.max_unrecognized_replies {
                let command = match purpose {
                    Purpose::Chunk { .. } => "recv",
                    Purpose::Status => "status",
                };
                self.fail(DeliveryFailure::UnexpectedReply {
                    command,
                    text: text.clone(),
                });
                return;
            }
            // Outcome unknown (e.g. the game asked to repeat the command): ask later.
            if let Purpose::Chunk { index } = purpose {
                self.set(index, Chunk::Uncertain);
            }
            return;
        }
        self.unrecognized_in_row = 0;
        match purpose {
            Purpose::Chunk { index } => self.on_chunk_reply(index, reply, now),
            Purpose::Status => self.on_status_reply(reply),
        }
        self.complete_if_all_held();
    }

    /// Command `token` will get no reply (timed out, or the connection ended first): its
    /// outcome is unknown.
    pub fn on_lost(&mut self, token: SendToken) {
        let Some(purpose) = self.in_flight.remove(&token) else {
            return;
        };
        self.stats.lost += 1;
        if let Purpose::Chunk { index } = purpose
            && self.outcome.is_none()
        {
            self.set(index, Chunk::Uncertain);
        }
    }

    /// Command `token` could not be sent at all; nothing can be delivered then.
    pub fn on_unsendable(&mut self, token: SendToken, reason: String) {
        if self.in_flight.remove(&token).is_some() {
            self.fail(DeliveryFailure::Unsendable { reason });
        }
    }

    fn hand_out(&mut self, purpose: Purpose, text: String) -> DeliveryCommand {
        let token = SendToken(self.next_token);
        self.next_token += 1;
        self.in_flight.insert(token, purpose);
        self.stats.commands += 1;
        self.stats.command_bytes += text.len() as u64;
        DeliveryCommand {
            token,
            purpose,
            text,
        }
    }

    fn on_chunk_reply(&mut self, index: u32, reply: GameReply, now: Instant) {
        let this = self.id;
        let count = self.frames.len() as u32;
        match reply {
            GameReply::Stored { id, have, count: c } if id == this && c == count => {
                self.set(index, Chunk::Stored);
                if have == count {
                    self.complete();
                }
            }
            GameReply::Done { id } if id == this => self.complete(),
            GameReply::Rejected { id, name, detail } if id.is_none() || id == Some(this) => {
                match remedy(&name) {
                    Remedy::Resend
                        if self.retries[index as usize - 1] < self.config.max_chunk_retries =>
                    {
                        self.retries[index as usize - 1] += 1;
                        self.set(index, Chunk::Pending);
                    }
                    Remedy::Wait => {
                        self.set(index, Chunk::Pending);
                        self.not_before = Some(now + self.config.busy_retry_delay);
                    }
                    _ => self.fail(DeliveryFailure::Rejected {
                        chunk: Some(index),
                        name,
                        detail: printable(&detail),
                    }),
                }
            }
            other => self.mismatched(other),
        }
    }

    fn on_status_reply(&mut self, reply: GameReply) {
        let this = self.id;
        let count = self.frames.len() as u32;
        match reply {
            GameReply::Missing { id, indices } if id == this => {
                if indices.iter().any(|&i| i == 0 || i > count) {
                    return self.mismatched(GameReply::Missing { id, indices });
                }
                let missing: BTreeSet<u32> = indices.into_iter().collect();
                for index in 1..=count {
                    let state = self.chunks[index as usize - 1];
                    if missing.contains(&index) {
                        // Stored chunks can be missing too: the game lost them (restart).
                        if matches!(state, Chunk::Stored | Chunk::Uncertain) {
                            self.set(index, Chunk::Pending);
                        }
                    } else if state == Chunk::Uncertain {
                        self.set(index, Chunk::Stored);
                    }
                }
                if missing.is_empty() {
                    self.complete();
                }
            }
            GameReply::Done { id } if id == this => self.complete(),
            GameReply::Unknown { id } if id == this => {
                // The game holds nothing of it (never got a chunk, or dropped the message).
                for index in 1..=count {
                    if self.chunks[index as usize - 1] != Chunk::InFlight {
                        self.set(index, Chunk::Pending);
                    }
                }
            }
            GameReply::Rejected { id, name, detail } if id.is_none() || id == Some(this) => self
                .fail(DeliveryFailure::Rejected {
                    chunk: None,
                    name,
                    detail: printable(&detail),
                }),
            // The game dropped the message (checksum, decoding, expiry): final.
            GameReply::Failed { id, name, detail } if id == this => {
                self.fail(DeliveryFailure::Rejected {
                    chunk: None,
                    name,
                    detail: printable(&detail),
                })
            }
            other => self.mismatched(other),
        }
    }

    fn mismatched(&mut self, reply: GameReply) {
        self.fail(DeliveryFailure::MismatchedReply {
            count: self.frames.len() as u32,
            text: format!("{reply:?}"),
        });
    }

    fn set(&mut self, index: u32, new: Chunk) {
        let slot = index as usize - 1;
        let old = self.chunks[slot];
        if old == new {
            return;
        }
        match old {
            Chunk::Pending => {
                self.pending
                    .remove(&(Reverse(self.frames[slot].len()), index));
            }
            Chunk::Stored => self.stored -= 1,
            Chunk::Uncertain => self.uncertain -= 1,
            Chunk::InFlight => {}
        }
        match new {
            Chunk::Pending => {
                self.pending
                    .insert((Reverse(self.frames[slot].len()), index));
            }
            Chunk::Stored => self.stored += 1,
            Chunk::Uncertain => self.uncertain += 1,
            Chunk::InFlight => {}
        }
        self.chunks[slot] = new;
    }

    /// Every chunk acknowledged as held, whatever order the acknowledgements came in (a reply
    /// saying `have == count` may have been lost): nothing is left to send. Called once a reply
    /// has been applied whole, never half way through one.
    fn complete_if_all_held(&mut self) {
        if self.stored == self.frames.len() {
            self.complete();
        }
    }

    fn complete(&mut self) {
        if self.outcome.is_none() {
            self.outcome = Some(Ok(()));
        }
    }

    fn fail(&mut self, failure: DeliveryFailure) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(DeliveryError {
                id: self.id,
                failure,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invsync_codec::{FrameRef, Method, Reassembler, ReassemblerConfig};

    /// `count` raw frames of one character each: chunks `1/count ..= count/count` of `id`.
    fn frames(id: u32, count: usize) -> Vec<String> {
        let header = |index| Header {
            id,
            index,
            count: count as u32,
            method: Method::Raw,
            payload_len: count as u64,
            wire_len: count as u64,
            message_crc: 0,
        };
        (1..=count as u32).map(|i| header(i).build("x")).collect()
    }

    fn drain(delivery: &mut Delivery, now: Instant) -> Vec<DeliveryCommand> {
        std::iter::from_fn(|| delivery.poll_command(now)).collect()
    }

    /// How the delivery failed, if it did.
    fn failure(delivery: &Delivery) -> Option<&DeliveryFailure> {
        Some(&delivery.outcome()?.as_ref().err()?.failure)
    }

    /// How `Delivery::new` refused the frames.
    fn refusal(id: u32, frames: Vec<String>) -> DeliveryFailure {
        Delivery::new(id, frames, DeliveryConfig::default())
            .unwrap_err()
            .failure
    }

    #[test]
    fn the_longest_frames_go_first() {
        // Chunks of 1, 3, 2, 3 bytes: the streams take the longest first (ties by index), so
        // what each stream carries evens out and the last round is the short frames.
        let data = ["a", "bcd", "ef", "ghi"];
        let wire: String = data.concat();
        let frames: Vec<String> = (1..=4u32)
            .map(|index| {
                Header {
                    id: 5,
                    index,
                    count: 4,
                    method: Method::Raw,
                    payload_len: wire.len() as u64,
                    wire_len: wire.len() as u64,
                    message_crc: 0,
                }
                .build(data[index as usize - 1])
            })
            .collect();
        let config = DeliveryConfig {
            in_flight: 4,
            ..DeliveryConfig::default()
        };
        let mut d = Delivery::new(5, frames, config).unwrap();
        let order: Vec<Purpose> = drain(&mut d, Instant::now())
            .into_iter()
            .map(|c| c.purpose)
            .collect();
        let chunk = |index| Purpose::Chunk { index };
        assert_eq!(order, [chunk(2), chunk(4), chunk(3), chunk(1)]);
    }

    #[test]
    fn keeps_the_window_full_and_completes_on_done() {
        let now = Instant::now();
        let config = DeliveryConfig {
            in_flight: 2,
            ..DeliveryConfig::default()
        };
        let mut d = Delivery::new(9, frames(9, 3), config).unwrap();
        let first = drain(&mut d, now);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].purpose, Purpose::Chunk { index: 1 });
        assert!(
            first[0]
                .text
                .starts_with("/sc remote.call(\"invsync\",\"recv\",[[IS1 ")
        );
        // Out of order: the second command answers first.
        d.on_reply(first[1].token, b"ok 9 1/3\n", now);
        let third = drain(&mut d, now);
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].purpose, Purpose::Chunk { index: 3 });
        d.on_reply(third[0].token, b"ok 9 2/3\n", now);
        assert!(d.outcome().is_none());
        d.on_reply(first[0].token, b"done 9\n", now);
        assert_eq!(d.outcome(), Some(&Ok(())));
        assert_eq!(d.stats().commands, 3);
        assert!(d.poll_command(now).is_none());
    }

    #[test]
    fn a_lost_reply_is_settled_by_status_and_only_missing_chunks_are_resent() {
        let now = Instant::now();
        let mut d = Delivery::new(4, frames(4, 4), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        assert_eq!(sent.len(), 4);
        d.on_reply(sent[0].token, b"ok 4 1/4\n", now);
        d.on_lost(sent[1].token);
        d.on_lost(sent[2].token);
        d.on_reply(sent[3].token, b"ok 4 2/4\n", now);
        let status = drain(&mut d, now);
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].purpose, Purpose::Status);
        assert_eq!(status[0].text, "/sc remote.call(\"invsync\",\"status\",4)");
        // Chunk 2 arrived (its reply was lost), chunk 3 did not.
        d.on_reply(status[0].token, b"missing 4 3\n", now);
        let resend = drain(&mut d, now);
        assert_eq!(
            resend.iter().map(|c| c.purpose).collect::<Vec<_>>(),
            [Purpose::Chunk { index: 3 }]
        );
        d.on_reply(resend[0].token, b"done 4\n", now);
        assert_eq!(d.outcome(), Some(&Ok(())));
        assert_eq!(d.stats().chunks_resent, 1);
    }

    #[test]
    fn a_status_reply_is_applied_whole_before_completion_is_judged() {
        // Both chunks were acknowledged, then the game restarted and lost chunk 2.
        let now = Instant::now();
        let mut d = Delivery::new(9, frames(9, 2), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        d.on_reply(sent[0].token, b"ok 9 1/2\n", now);
        d.on_lost(sent[1].token);
        let status = drain(&mut d, now);
        assert_eq!(status[0].purpose, Purpose::Status);
        d.on_reply(status[0].token, b"missing 9 2\n", now);
        assert_eq!(d.outcome(), None, "chunk 2 is missing: not done");
        let resend = drain(&mut d, now);
        assert_eq!(resend.len(), 1);
        d.on_reply(resend[0].token, b"ok 9 2/2\n", now);
        assert_eq!(d.outcome(), Some(&Ok(())));
    }

    #[test]
    fn a_failed_message_is_final() {
        let now = Instant::now();
        let mut d = Delivery::new(3, frames(3, 1), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        d.on_lost(sent[0].token);
        let status = drain(&mut d, now);
        d.on_reply(
            status[0].token,
            b"failed 3 MessageChecksumMismatch bad\n",
            now,
        );
        assert!(
            matches!(failure(&d), Some(DeliveryFailure::Rejected { name, .. }) if name == "MessageChecksumMismatch")
        );
    }

    #[test]
    fn a_status_query_waits_for_outstanding_chunks() {
        let now = Instant::now();
        let config = DeliveryConfig {
            in_flight: 3,
            ..DeliveryConfig::default()
        };
        let mut d = Delivery::new(1, frames(1, 2), config).unwrap();
        let sent = drain(&mut d, now);
        d.on_lost(sent[0].token);
        assert!(
            d.poll_command(now).is_none(),
            "chunk 2 is still outstanding"
        );
        d.on_reply(sent[1].token, b"ok 1 1/2\n", now);
        assert_eq!(d.poll_command(now).unwrap().purpose, Purpose::Status);
    }

    #[test]
    fn unknown_resends_everything_and_damaged_frames_are_retried() {
        let now = Instant::now();
        let config = DeliveryConfig {
            max_chunk_retries: 1,
            ..DeliveryConfig::default()
        };
        let mut d = Delivery::new(2, frames(2, 2), config).unwrap();
        let sent = drain(&mut d, now);
        d.on_lost(sent[0].token);
        d.on_lost(sent[1].token);
        let status = drain(&mut d, now);
        d.on_reply(status[0].token, b"unknown 2\n", now);
        let again = drain(&mut d, now);
        assert_eq!(again.len(), 2);
        d.on_reply(
            again[0].token,
            b"err 2 FrameChecksumMismatch damaged\n",
            now,
        );
        let retry = drain(&mut d, now);
        assert_eq!(retry[0].purpose, Purpose::Chunk { index: 1 });
        d.on_reply(
            retry[0].token,
            b"err 2 FrameChecksumMismatch damaged again\n",
            now,
        );
        assert!(matches!(
            failure(&d),
            Some(DeliveryFailure::Rejected { chunk: Some(1), name, .. }) if name == "FrameChecksumMismatch"
        ));
    }

    #[test]
    fn a_busy_game_is_given_time() {
        let now = Instant::now();
        let mut d = Delivery::new(3, frames(3, 1), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        d.on_reply(
            sent[0].token,
            b"err 3 TooManyMessages 64 in progress\n",
            now,
        );
        assert!(d.poll_command(now).is_none());
        let later = d.poll_timeout().unwrap();
        assert_eq!(later, now + Duration::from_secs(1));
        assert!(d.poll_command(later).is_some());
    }

    #[test]
    fn fatal_rejections_and_foreign_replies_end_the_delivery() {
        let now = Instant::now();
        let mut d = Delivery::new(5, frames(5, 2), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        d.on_reply(
            sent[0].token,
            b"err 5 MessageChecksumMismatch mcrc differs\n",
            now,
        );
        let err = d.outcome().unwrap().clone().unwrap_err();
        assert!(err.to_string().contains("MessageChecksumMismatch"), "{err}");

        let mut d = Delivery::new(5, frames(5, 2), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        d.on_reply(sent[0].token, b"ok 6 1/2\n", now);
        assert!(matches!(
            failure(&d),
            Some(DeliveryFailure::MismatchedReply { .. })
        ));
    }

    #[test]
    fn replies_that_are_not_protocol_lines_are_tolerated_a_few_times() {
        let now = Instant::now();
        let config = DeliveryConfig {
            in_flight: 1,
            max_unrecognized_replies: 1,
            ..DeliveryConfig::default()
        };
        let mut d = Delivery::new(8, frames(8, 1), config).unwrap();
        let warning = b"Using Lua console commands will disable achievements, please repeat the command to proceed.";
        let first = drain(&mut d, now);
        d.on_reply(first[0].token, warning, now);
        let status = drain(&mut d, now);
        assert_eq!(status[0].purpose, Purpose::Status);
        d.on_reply(status[0].token, b"Unknown interface: invsync", now);
        assert!(matches!(
            failure(&d),
            Some(DeliveryFailure::UnexpectedReply {
                command: "status",
                ..
            })
        ));
    }

    #[test]
    fn gives_up_when_nothing_gets_through() {
        let now = Instant::now();
        let config = DeliveryConfig {
            max_rounds_without_progress: 2,
            ..DeliveryConfig::default()
        };
        let mut d = Delivery::new(1, frames(1, 1), config).unwrap();
        let mut rounds = 0;
        loop {
            let sent = drain(&mut d, now);
            if sent.is_empty() {
                break;
            }
            for command in sent {
                d.on_lost(command.token);
            }
            rounds += 1;
            assert!(rounds < 10);
        }
        assert_eq!(rounds, 3, "one chunk command, then two status rounds");
        assert!(matches!(
            failure(&d),
            Some(DeliveryFailure::NoProgress { rounds: 2, .. })
        ));
    }

    #[test]
    fn a_resumed_delivery_sends_only_what_the_game_misses() {
        let now = Instant::now();
        let mut d = Delivery::resume(3, frames(3, 3), DeliveryConfig::default(), &[2, 9]).unwrap();
        let sent = drain(&mut d, now);
        assert_eq!(
            sent.iter().map(|c| c.purpose).collect::<Vec<_>>(),
            [Purpose::Chunk { index: 2 }]
        );
        assert_eq!(d.stats().chunks_resent, 1);
        d.on_reply(sent[0].token, b"ok 3 3/3\n", now);
        assert_eq!(d.outcome(), Some(&Ok(())));
    }

    #[test]
    fn the_games_text_in_a_rejection_is_one_bounded_line() {
        let now = Instant::now();
        let mut d = Delivery::new(5, frames(5, 1), DeliveryConfig::default()).unwrap();
        let sent = drain(&mut d, now);
        let reply = format!("err 5 MethodNotAccepted \x1b[31m{}\n", "x".repeat(100_000));
        d.on_reply(sent[0].token, reply.as_bytes(), now);
        let Some(DeliveryFailure::Rejected { detail, .. }) = failure(&d) else {
            panic!("{:?}", d.outcome())
        };
        assert!(detail.len() <= 520, "{} bytes", detail.len());
        assert!(detail.starts_with(" [31mxxx"), "{detail:?}");
    }

    #[test]
    fn frames_of_another_message_are_refused() {
        let err = Delivery::new(1, frames(2, 2), DeliveryConfig::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "message 1: frame 1 of 2 is not chunk 1/2 of it: its id is 2, expected 1"
        );
        let mut wrong_order = frames(1, 2);
        wrong_order.swap(0, 1);
        assert!(matches!(
            refusal(1, wrong_order),
            DeliveryFailure::WrongFrame { position: 1, reason, .. } if reason == "its index is 2, expected 1"
        ));
        assert!(matches!(
            refusal(1, frames(1, 3)[..2].to_vec()),
            DeliveryFailure::WrongFrame { position: 1, reason, .. } if reason == "its count is 3, expected 2"
        ));
        assert_eq!(refusal(1, Vec::new()), DeliveryFailure::NoFrames);
    }

    #[test]
    fn every_frame_must_pass_the_codecs_checks_and_share_the_first_frames_fields() {
        let mut damaged = frames(4, 3);
        damaged[1] = damaged[1].replace(" x", " y");
        let err = refusal(4, damaged);
        assert!(
            matches!(
                &err,
                DeliveryFailure::UnreadableFrame {
                    position: 2,
                    count: 3,
                    error: CodecError::FrameChecksumMismatch { .. },
                }
            ),
            "{err}"
        );
        assert_eq!(err.protocol_error(), Some("FrameChecksumMismatch"));
        assert!(
            err.to_string()
                .contains("protocol error FrameChecksumMismatch"),
            "{err}"
        );
        // Chunk 3 claims another wire length than chunk 1: not the same message.
        let mut mixed = frames(4, 3);
        mixed[2] = Header {
            id: 4,
            index: 3,
            count: 3,
            method: Method::Raw,
            payload_len: 4,
            wire_len: 4,
            message_crc: 0,
        }
        .build("xy");
        assert!(matches!(
            refusal(4, mixed),
            DeliveryFailure::WrongFrame { position: 3, reason, .. } if reason == "its wlen is 4, expected 3"
        ));
    }

    /// What damage in transit and a full receiver make the codec itself report is resent or
    /// waited on; a name the codec does not define is final.
    #[test]
    fn the_remedies_follow_the_codecs_own_errors() {
        let intact = frames(6, 1).remove(0);
        let mut invalid_utf8 = intact.clone().into_bytes();
        *invalid_utf8.last_mut().unwrap() = 0xff;
        let damage: [Vec<u8>; 4] = [
            intact.replace(" x", " y").into_bytes(),
            intact.replace(" x", " \x01").into_bytes(),
            invalid_utf8,
            intact.as_bytes()[4..].to_vec(),
        ];
        for frame in &damage {
            let name = Frame::parse(frame).unwrap_err().name();
            assert!(matches!(remedy(name), Remedy::Resend), "{name}");
        }

        let mut full = Reassembler::new(ReassemblerConfig {
            max_messages: 1,
            ..ReassemblerConfig::default()
        });
        full.push(frames(7, 2)[0].as_bytes(), 0).unwrap();
        let busy = full.push(frames(8, 2)[0].as_bytes(), 0).unwrap_err();
        assert!(matches!(remedy(busy.name()), Remedy::Wait));
        assert!(matches!(remedy("BadArgument"), Remedy::Fatal));

        let checksum = CodecError::MessageChecksumMismatch {
            id: 6,
            expected: 1,
            actual: 2,
        };
        let at = FrameRef {
            id: 6,
            index: 1,
            count: 1,
        };
        let conflict = CodecError::ConflictingFrame { at, field: "data" };
        for name in [checksum.name(), conflict.name(), "BadArgument", "frame"] {
            assert!(matches!(remedy(name), Remedy::Fatal), "{name}");
        }
    }
}
