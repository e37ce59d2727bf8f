//! Pulling one staged message out of the game (game -> host, PROTOCOL.md 5.4), as a sans-I/O
//! state machine.
//!
//! The game announced the message with a `staged` control message; its frames are built and
//! waiting in `storage`. The host asks for each with `pull(id, index)`, several in flight, and
//! the reply carries the frame directly (RCON replies do not go through the game's input stream,
//! so a 256 KiB frame costs one short command). When every frame is in and the message verifies,
//! the host sends `ack(id)` and the game frees it.
//!
//! A pull only reads: a lost reply (timeout, dropped connection) is simply pulled again, so a
//! reconnect in the middle of a pull costs only the frames in flight. A frame that fails its own
//! checks (damaged or cut on the way) is pulled again too; everything else (the game no longer
//! has the message, an intact frame that is not the one asked for, a message that fails its
//! checks as a whole) ends the pull with a [`PullError`].
//! Every count of retries is bounded.
//!
//! Usage: loop { send every [`Pull::poll_command`]; feed each outcome to [`Pull::on_reply`] or
//! [`Pull::on_lost`] }; take the payload with [`Pull::take_message`] as soon as it is there (before
//! the `ack` is answered) and stop at [`Pull::end`].

use std::collections::BTreeSet;

use invsync_codec::{
    Error as CodecError, Frame, Header, Message, Outcome, Reassembler, ReassemblerConfig,
};
use invsync_rcon_transport::{
    GameReply, PullReply, ack_command, parse_pull_reply, parse_reply, pull_command,
};
use thiserror::Error;

use super::header_mismatch;
use crate::control::{StagedAnnouncement, printable};

/// Settings of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullConfig {
    /// `pull` commands in flight. Default 8: each costs the game ~40 bytes of input and
    /// executes in the next round of commands (every other tick); the module answers with
    /// frames of up to 64 KiB, so 8 move half a megabyte per round, and a 1 MB message takes
    /// three rounds (`invsync bench --kind huge --direction to_host` measures it).
    pub in_flight: usize,
    /// Replies per chunk that are damaged or not protocol lines before giving up. Default 4.
    pub max_attempts_per_chunk: u32,
    /// Lost replies in a row (no reply at all in between) before giving up. Default 32.
    pub max_lost_in_row: u32,
    /// `ack` commands sent before leaving the message to the game's own expiry. Default 3.
    pub max_ack_attempts: u32,
    /// Limits for the pulled frames. Default: the codec's defaults (pull `max_frame` 256 KiB,
    /// `max_message` 16 MiB, `max_chunks` 65536), without age limits (a pull has its own).
    pub reassembler: ReassemblerConfig,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            in_flight: 8,
            max_attempts_per_chunk: 4,
            max_lost_in_row: 32,
            max_ack_attempts: 3,
            reassembler: ReassemblerConfig {
                max_age_ticks: None,
                max_age_frames: None,
                ..ReassemblerConfig::default()
            },
        }
    }
}

/// Why staged message `id` could not be received.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("staged message {id}: {failure}")]
pub struct PullError {
    /// The staged message's id (the game's id space).
    pub id: u32,
    /// What went wrong.
    pub failure: PullFailure,
}

impl PullError {
    /// The protocol error name involved, if any (PROTOCOL.md 3.1).
    pub fn protocol_error(&self) -> Option<&str> {
        match &self.failure {
            PullFailure::Rejected { name, .. } => Some(name),
            PullFailure::Invalid(error) => Some(error.name()),
            _ => None,
        }
    }
}

/// What went wrong in a [`PullError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PullFailure {
    /// The announcement is outside this host's limits or inconsistent.
    #[error("cannot pull it: {reason}")]
    BadAnnouncement {
        /// What is wrong.
        reason: String,
    },
    /// The game answered `unknown`: it no longer holds the message (expired, or it restarted).
    #[error("the game no longer has it (pull of chunk {index} answered `unknown`)")]
    Gone {
        /// The chunk asked for.
        index: u32,
    },
    /// The game answered a pull with `err`.
    #[error("the game refused to return chunk {index}: {name} {detail}")]
    Rejected {
        /// The chunk asked for.
        index: u32,
        /// Protocol error name.
        name: String,
        /// The game's text.
        detail: String,
    },
    /// A pulled frame or the reassembled message failed the protocol's checks.
    #[error("{0} (protocol error {name})", name = .0.name())]
    Invalid(CodecError),
    /// The game returned a frame other than the one asked for.
    #[error("the reply to the pull of chunk {index} is not that chunk: {reason}")]
    WrongFrame {
        /// The chunk asked for.
        index: u32,
        /// How it differs.
        reason: String,
    },
    /// One chunk kept coming back damaged or unreadable.
    #[error("gave up on chunk {index} after {attempts} bad replies; last: {last}")]
    TooManyAttempts {
        /// The chunk.
        index: u32,
        /// Replies received for it.
        attempts: u32,
        /// The last problem.
        last: String,
    },
    /// Replies stopped coming.
    #[error("{lost} pull replies in a row were lost ({missing} chunks still missing)")]
    NoProgress {
        /// Lost replies in a row.
        lost: u32,
        /// Chunks still missing.
        missing: usize,
    },
    /// A command could not be sent, or the link closed.
    #[error("the link cannot pull it: {reason}")]
    LinkClosed {
        /// Why.
        reason: String,
    },
}

/// What a pull command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullCommandKind {
    /// `pull(id, index)`.
    Chunk {
        /// 1-based chunk number.
        index: u32,
    },
    /// `ack(id)`.
    Ack,
}

/// A command to send over RCON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullCommand {
    /// What it is for (pass it back with the outcome).
    pub kind: PullCommandKind,
    /// The RCON command text.
    pub text: String,
}

/// How a pull ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEnd {
    /// The message arrived and the game confirmed the `ack`.
    Acknowledged,
    /// The message arrived; the `ack` got no confirmation (the game frees the message when it
    /// expires anyway).
    AckUnconfirmed {
        /// The last answer or failure.
        last: String,
    },
    /// The message did not arrive.
    Failed(PullError),
}

/// Counters of one pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Commands handed out (pulls and acks).
    pub commands: u64,
    /// Pulls beyond the first of each chunk.
    pub repulls: u64,
    /// Commands whose reply never came.
    pub lost: u64,
    /// Bytes of replies received.
    pub reply_bytes: u64,
}

#[derive(Debug)]
enum Phase {
    Pulling,
    Acking { attempts: u32, in_flight: bool },
    Ended(PullEnd),
}

/// One staged message being pulled.
#[derive(Debug)]
pub struct Pull {
    staged: StagedAnnouncement,
    config: PullConfig,
    rx: Reassembler,
    pending: BTreeSet<u32>,
    in_flight: BTreeSet<u32>,
    sent_once: BTreeSet<u32>,
    bad_replies: std::collections::HashMap<u32, u32>,
    lost_in_row: u32,
    phase: Phase,
    message: Option<Message>,
    stats: PullStats,
}

impl Pull {
    /// Starts pulling an announced message. Fails if the announcement is outside the limits of
    /// `config.reassembler` or cannot describe a real message.
    pub fn new(staged: StagedAnnouncement, config: PullConfig) -> Result<Pull, PullError> {
        let limits = &config.reassembler;
        let bad = |reason: String| PullError {
            id: staged.id,
            failure: PullFailure::BadAnnouncement { reason },
        };
        if staged.count > limits.max_chunks {
            return Err(bad(format!(
                "{} chunks is over the limit of {}",
                staged.count, limits.max_chunks
            )));
        }
        for (what, len) in [("wire", staged.wire_len), ("payload", staged.payload_len)] {
            if len > limits.max_message {
                return Err(bad(format!(
                    "{what} length {len} is over the limit of {} bytes",
                    limits.max_message
                )));
            }
        }
        if u64::from(staged.count) > staged.wire_len.max(1) {
            return Err(bad(format!(
                "{} chunks for {} wire bytes",
                staged.count, staged.wire_len
            )));
        }
        if staged.wire_len > u64::from(staged.count) * limits.max_frame as u64 {
            return Err(bad(format!(
                "{} wire bytes cannot fit {} frames of at most {} bytes",
                staged.wire_len, staged.count, limits.max_frame
            )));
        }
        if !limits.decode.contains(&staged.method) {
            return Err(bad(format!(
                "method {} is not one this host decodes",
                staged.method
            )));
        }
        let rx = Reassembler::new(config.reassembler.clone());
        Ok(Pull {
            pending: (1..=staged.count).collect(),
            staged,
            config,
            rx,
            in_flight: BTreeSet::new(),
            sent_once: BTreeSet::new(),
            bad_replies: std::collections::HashMap::new(),
            lost_in_row: 0,
            phase: Phase::Pulling,
            message: None,
            stats: PullStats::default(),
        })
    }

    /// A pull of a message that already arrived and was announced again: only the `ack` is
    /// (re)sent.
    pub fn ack_only(staged: StagedAnnouncement, config: PullConfig) -> Pull {
        Pull {
            pending: BTreeSet::new(),
            rx: Reassembler::new(ReassemblerConfig {
                max_messages: 1,
                max_buffered: 0,
                ..config.reassembler.clone()
            }),
            staged,
            config,
            in_flight: BTreeSet::new(),
            sent_once: BTreeSet::new(),
            bad_replies: std::collections::HashMap::new(),
            lost_in_row: 0,
            phase: Phase::Acking {
                attempts: 0,
                in_flight: false,
            },
            message: None,
            stats: PullStats::default(),
        }
    }

    /// The announcement.
    pub fn staged(&self) -> &StagedAnnouncement {
        &self.staged
    }

    /// The staged message's id.
    pub fn id(&self) -> u32 {
        self.staged.id
    }

    /// Chunks received and verified so far.
    pub fn received(&self) -> u32 {
        if self.message.is_some() || matches!(self.phase, Phase::Acking { .. }) {
            return self.staged.count;
        }
        self.rx.progress().first().map_or(0, |p| p.have)
    }

    /// Commands handed out and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
            + usize::from(matches!(
                self.phase,
                Phase::Acking {
                    in_flight: true,
                    ..
                }
            ))
    }

    /// Counters so far.
    pub fn stats(&self) -> &PullStats {
        &self.stats
    }

    /// How the pull ended, once it has.
    pub fn end(&self) -> Option<&PullEnd> {
        match &self.phase {
            Phase::Ended(end) => Some(end),
            _ => None,
        }
    }

    /// The message, once (as soon as it is complete and verified).
    pub fn take_message(&mut self) -> Option<Message> {
        self.message.take()
    }

    /// The next command, if the window allows one now.
    pub fn poll_command(&mut self) -> Option<PullCommand> {
        let id = self.staged.id;
        match &mut self.phase {
            Phase::Pulling => {
                if self.in_flight.len() >= self.config.in_flight.max(1) {
                    return None;
                }
                let index = self.pending.pop_first()?;
                self.in_flight.insert(index);
                if !self.sent_once.insert(index) {
                    self.stats.repulls += 1;
                }
                self.stats.commands += 1;
                Some(PullCommand {
                    kind: PullCommandKind::Chunk { index },
                    text: pull_command(id, index),
                })
            }
            Phase::Acking { in_flight, .. } if !*in_flight => {
                *in_flight = true;
                self.stats.commands += 1;
                Some(PullCommand {
                    kind: PullCommandKind::Ack,
                    text: ack_command(id),
                })
            }
            _ => None,
        }
    }

    /// The reply body to a command of `kind`; `now` is passed to the reassembler (ticks).
    pub fn on_reply(&mut self, kind: PullCommandKind, body: &[u8], now: u64) {
        self.stats.reply_bytes += body.len() as u64;
        match kind {
            PullCommandKind::Chunk { index } => {
                if !self.in_flight.remove(&index) || !matches!(self.phase, Phase::Pulling) {
                    return;
                }
                self.lost_in_row = 0;
                self.on_chunk_reply(index, body, now);
            }
            PullCommandKind::Ack => {
                let Phase::Acking {
                    attempts,
                    in_flight,
                } = &mut self.phase
                else {
                    return;
                };
                *in_flight = false;
                *attempts += 1;
                let id = self.staged.id;
                match parse_reply(body, 0) {
                    GameReply::Acknowledged { id: acked } if acked == id => {
                        self.phase = Phase::Ended(PullEnd::Acknowledged);
                    }
                    // After an earlier ack whose reply was lost, `unknown` means that ack ran.
                    GameReply::Unknown { id: gone } if gone == id && *attempts > 1 => {
                        self.phase = Phase::Ended(PullEnd::Acknowledged);
                    }
                    // Expired before the first ack.
                    GameReply::Unknown { id: gone } if gone == id => {
                        self.phase = Phase::Ended(PullEnd::AckUnconfirmed {
                            last: format!("ack({id}) answered `unknown {id}`"),
                        });
                    }
                    other => {
                        let last = format!("ack({id}) answered {other:?}");
                        self.ack_failed(last);
                    }
                }
            }
        }
    }

    /// Command `kind` got no reply (timed out, or the connection ended first).
    pub fn on_lost(&mut self, kind: PullCommandKind) {
        self.stats.lost += 1;
        match kind {
            PullCommandKind::Chunk { index } => {
                if !self.in_flight.remove(&index) || !matches!(self.phase, Phase::Pulling) {
                    return;
                }
                self.pending.insert(index);
                self.lost_in_row += 1;
                if self.lost_in_row > self.config.max_lost_in_row {
                    self.fail(PullFailure::NoProgress {
                        lost: self.lost_in_row,
                        missing: self.pending.len() + self.in_flight.len(),
                    });
                }
            }
            PullCommandKind::Ack => {
                if let Phase::Acking {
                    attempts,
                    in_flight,
                } = &mut self.phase
                    && *in_flight
                {
                    *in_flight = false;
                    *attempts += 1;
                    let last = format!("the reply to ack({}) was lost", self.staged.id);
                    self.ack_failed(last);
                }
            }
        }
    }

    /// Ends the pull from outside (the link closed, or a command could not be sent).
    pub fn abort(&mut self, reason: String) {
        if self.message.is_some() || matches!(self.phase, Phase::Acking { .. }) {
            self.phase = Phase::Ended(PullEnd::AckUnconfirmed { last: reason });
        } else {
            self.fail(PullFailure::LinkClosed { reason });
        }
    }

    fn ack_failed(&mut self, last: String) {
        if let Phase::Acking { attempts, .. } = self.phase
            && attempts >= self.config.max_ack_attempts
        {
            self.phase = Phase::Ended(PullEnd::AckUnconfirmed { last });
        }
    }

    fn fail(&mut self, failure: PullFailure) {
        if !matches!(self.phase, Phase::Ended(_)) {
            self.pending.clear();
            let id = self.staged.id;
            self.phase = Phase::Ended(PullEnd::Failed(PullError { id, failure }));
        }
    }

    fn on_chunk_reply(&mut self, index: u32, body: &[u8], now: u64) {
        match parse_pull_reply(body) {
            PullReply::Frame(frame) => self.on_frame(index, frame.as_bytes(), now),
            PullReply::Unknown { .. } => self.fail(PullFailure::Gone { index }),
            PullReply::Rejected(GameReply::Rejected { name, detail, .. }) => {
                self.fail(PullFailure::Rejected {
                    index,
                    name,
                    detail: printable(&detail),
                })
            }
            PullReply::Rejected(other) => self.retry(index, format!("{other:?}")),
            PullReply::Unrecognized { text } => {
                self.retry(index, format!("a reply that is not a frame: {text:?}"))
            }
        }
    }

    fn on_frame(&mut self, index: u32, frame: &[u8], now: u64) {
        // A frame that fails its own checks (syntax, fcrc) was damaged or cut on the way:
        // pulling is idempotent, so pull it again. Only an intact frame is compared with the
        // chunk asked for, and the reassembler must not see a stray frame (it would take it for
        // a new message).
        let header = match Frame::parse(frame) {
            Ok(f) => f.header,
            Err(error) => return self.retry(index, format!("{error} ({})", error.name())),
        };
        let s = &self.staged;
        let want = Header {
            id: s.id,
            index,
            count: s.count,
            method: s.method,
            wire_len: s.wire_len,
            payload_len: s.payload_len,
            // Not announced: the whole message's check covers it.
            message_crc: header.message_crc,
        };
        if let Some(reason) = header_mismatch(&header, &want) {
            return self.fail(PullFailure::WrongFrame { index, reason });
        }
        match self.rx.push(frame, now) {
            Ok(Outcome::Stored { .. } | Outcome::Duplicate { .. }) => {}
            Ok(Outcome::Complete(message)) => {
                self.message = Some(message);
                self.pending.clear();
                self.in_flight.clear();
                self.phase = Phase::Acking {
                    attempts: 0,
                    in_flight: false,
                };
            }
            // Policy and message-level failures: the staged message itself is unusable.
            Err(error) => self.fail(PullFailure::Invalid(error)),
        }
    }

    fn retry(&mut self, index: u32, last: String) {
        let bad = self.bad_replies.entry(index).or_default();
        *bad += 1;
        if *bad >= self.config.max_attempts_per_chunk {
            let attempts = *bad;
            self.fail(PullFailure::TooManyAttempts {
                index,
                attempts,
                last,
            });
        } else {
            self.pending.insert(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invsync_codec::{Capabilities, EncodeOptions, Method, MethodChoice, encode};

    fn staged_message(
        id: u32,
        len: usize,
        max_frame: usize,
    ) -> (Vec<u8>, StagedAnnouncement, Vec<String>) {
        let payload: Vec<u8> = (0..len).map(|i| b'a' + (i * 7 % 26) as u8).collect();
        let e = encode(
            id,
            &payload,
            &EncodeOptions {
                method: MethodChoice::Only(Method::Raw),
                receiver: Capabilities::all(max_frame),
                ..EncodeOptions::default()
            },
        )
        .unwrap();
        let staged = StagedAnnouncement {
            id,
            count: e.frames.len() as u32,
            wire_len: e.wire_len,
            method: e.method,
            payload_len: e.payload_len,
        };
        (payload, staged, e.frames)
    }

    fn reply(frame: &str) -> Vec<u8> {
        format!("{frame}\n").into_bytes()
    }

    fn drain(pull: &mut Pull) -> Vec<PullCommand> {
        std::iter::from_fn(|| pull.poll_command()).collect()
    }

    fn index(c: &PullCommand) -> u32 {
        match c.kind {
            PullCommandKind::Chunk { index } => index,
            PullCommandKind::Ack => panic!("ack"),
        }
    }

    #[test]
    fn pulls_with_a_window_out_of_order_then_acks() {
        let (payload, staged, frames) = staged_message(5, 5000, 1000);
        assert_eq!(frames.len(), 6);
        let config = PullConfig {
            in_flight: 4,
            ..PullConfig::default()
        };
        let mut pull = Pull::new(staged, config).unwrap();
        let first = drain(&mut pull);
        assert_eq!(first.iter().map(index).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(first[0].text, "/sc remote.call(\"invsync\",\"pull\",5,1)");
        // Replies in reverse order; each frees a slot.
        for c in first.iter().rev() {
            pull.on_reply(c.kind, &reply(&frames[index(c) as usize - 1]), 0);
        }
        let rest = drain(&mut pull);
        assert_eq!(rest.iter().map(index).collect::<Vec<_>>(), [5, 6]);
        pull.on_reply(rest[1].kind, &reply(&frames[5]), 0);
        assert!(pull.take_message().is_none());
        pull.on_reply(rest[0].kind, &reply(&frames[4]), 0);
        assert_eq!(pull.take_message().unwrap().payload, payload);
        let ack = drain(&mut pull);
        assert_eq!(ack.len(), 1);
        assert_eq!(ack[0].text, "/sc remote.call(\"invsync\",\"ack\",5)");
        pull.on_reply(PullCommandKind::Ack, b"ok 5\n", 0);
        assert_eq!(pull.end(), Some(&PullEnd::Acknowledged));
        assert_eq!(pull.stats().repulls, 0);
    }

    #[test]
    fn lost_and_damaged_replies_are_pulled_again() {
        let (payload, staged, frames) = staged_message(8, 2700, 1000);
        let mut pull = Pull::new(staged, PullConfig::default()).unwrap();
        let sent = drain(&mut pull);
        assert_eq!(sent.len(), 3);
        pull.on_lost(sent[0].kind);
        let mut damaged = frames[1].clone().into_bytes();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        pull.on_reply(sent[1].kind, &damaged, 0);
        pull.on_reply(
            sent[2].kind,
            b"Lua console commands will disable achievements.",
            0,
        );
        let again = drain(&mut pull);
        assert_eq!(again.iter().map(index).collect::<Vec<_>>(), [1, 2, 3]);
        for c in &again {
            pull.on_reply(c.kind, &reply(&frames[index(c) as usize - 1]), 0);
        }
        assert_eq!(pull.take_message().unwrap().payload, payload);
        assert_eq!(pull.stats().repulls, 3);
        assert_eq!(pull.stats().lost, 1);
    }

    #[test]
    fn fatal_answers_end_the_pull_with_errors_naming_the_message() {
        let (_, staged, frames) = staged_message(3, 2700, 1000);
        // The game no longer has it.
        let mut pull = Pull::new(staged.clone(), PullConfig::default()).unwrap();
        let sent = drain(&mut pull);
        pull.on_reply(sent[0].kind, b"unknown 3\n", 0);
        assert_eq!(
            pull.end(),
            Some(&PullEnd::Failed(PullError {
                id: 3,
                failure: PullFailure::Gone { index: 1 }
            }))
        );
        assert!(pull.poll_command().is_none());
        // A frame of another chunk.
        let mut pull = Pull::new(staged.clone(), PullConfig::default()).unwrap();
        let sent = drain(&mut pull);
        pull.on_reply(sent[0].kind, &reply(&frames[1]), 0);
        let Some(PullEnd::Failed(
            err @ PullError {
                failure: PullFailure::WrongFrame { .. },
                ..
            },
        )) = pull.end()
        else {
            panic!("{:?}", pull.end())
        };
        assert!(err.to_string().contains("index is 2, expected 1"), "{err}");
        // A frame that the reassembler refuses for good.
        let mut other = staged.clone();
        other.count = 3;
        let mut pull = Pull::new(other, PullConfig::default()).unwrap();
        let sent = drain(&mut pull);
        let mut bad_mcrc = frames.clone();
        for f in &mut bad_mcrc {
            // Re-frame chunk data under a wrong message checksum: valid frames, bad message.
            let parsed = Frame::parse(f.as_bytes()).unwrap();
            let h = invsync_codec::Header {
                message_crc: parsed.header.message_crc ^ 1,
                ..parsed.header
            };
            *f = h.build(std::str::from_utf8(parsed.data).unwrap());
        }
        for c in &sent {
            pull.on_reply(c.kind, &reply(&bad_mcrc[index(c) as usize - 1]), 0);
        }
        let Some(PullEnd::Failed(err)) = pull.end() else {
            panic!("{:?}", pull.end())
        };
        assert_eq!(err.protocol_error(), Some("MessageChecksumMismatch"));
        assert_eq!(err.id, 3);
    }

    #[test]
    fn bounded_retries() {
        let (_, staged, _) = staged_message(4, 2700, 1000);
        let config = PullConfig {
            max_attempts_per_chunk: 2,
            max_lost_in_row: 3,
            ..PullConfig::default()
        };
        let mut pull = Pull::new(staged.clone(), config.clone()).unwrap();
        let c = pull.poll_command().unwrap();
        assert_eq!(index(&c), 1);
        pull.on_reply(c.kind, b"garbage", 0);
        assert!(pull.end().is_none());
        let again = drain(&mut pull);
        assert_eq!(again.iter().map(index).collect::<Vec<_>>(), [1, 2, 3]);
        pull.on_reply(again[0].kind, b"garbage again", 0);
        assert!(matches!(
            pull.end(),
            Some(PullEnd::Failed(PullError {
                failure: PullFailure::TooManyAttempts {
                    index: 1,
                    attempts: 2,
                    ..
                },
                ..
            }))
        ));
        let mut pull = Pull::new(staged, config).unwrap();
        for _ in 0..10 {
            for c in drain(&mut pull) {
                pull.on_lost(c.kind);
            }
        }
        assert!(matches!(
            pull.end(),
            Some(PullEnd::Failed(PullError {
                failure: PullFailure::NoProgress { lost: 4, .. },
                ..
            }))
        ));
    }

    #[test]
    fn announcements_outside_the_limits_are_refused() {
        let (_, staged, _) = staged_message(4, 2700, 1000);
        let small = PullConfig {
            reassembler: ReassemblerConfig {
                max_message: 1000,
                ..PullConfig::default().reassembler
            },
            ..PullConfig::default()
        };
        for (announcement, config) in [
            (staged.clone(), small),
            (
                StagedAnnouncement {
                    count: 70_000,
                    wire_len: 1 << 20,
                    ..staged.clone()
                },
                PullConfig::default(),
            ),
            (
                StagedAnnouncement {
                    count: 10,
                    wire_len: 5,
                    ..staged.clone()
                },
                PullConfig::default(),
            ),
            (
                StagedAnnouncement {
                    count: 1,
                    wire_len: 300_000,
                    ..staged.clone()
                },
                PullConfig::default(),
            ),
        ] {
            assert!(
                matches!(
                    Pull::new(announcement.clone(), config),
                    Err(PullError {
                        id: 4,
                        failure: PullFailure::BadAnnouncement { .. }
                    })
                ),
                "{announcement:?}"
            );
        }
    }

    #[test]
    fn a_lost_ack_is_retried_then_left_to_the_game() {
        let (_, staged, _) = staged_message(6, 10, 1000);
        let mut pull = Pull::ack_only(staged, PullConfig::default());
        for _ in 0..3 {
            let c = pull.poll_command().unwrap();
            assert_eq!(c.kind, PullCommandKind::Ack);
            assert!(pull.poll_command().is_none(), "one ack at a time");
            pull.on_lost(c.kind);
        }
        assert!(matches!(pull.end(), Some(PullEnd::AckUnconfirmed { .. })));
        assert!(pull.poll_command().is_none());
        // A lost reply, then `unknown`: the first ack ran.
        let (_, staged, _) = staged_message(6, 10, 1000);
        let mut pull = Pull::ack_only(staged.clone(), PullConfig::default());
        let c = pull.poll_command().unwrap();
        pull.on_lost(c.kind);
        let c = pull.poll_command().unwrap();
        pull.on_reply(c.kind, b"unknown 6\n", 0);
        assert_eq!(pull.end(), Some(&PullEnd::Acknowledged));
        // `unknown` at the first ack: the game dropped it before.
        let mut pull = Pull::ack_only(staged, PullConfig::default());
        let c = pull.poll_command().unwrap();
        pull.on_reply(c.kind, b"unknown 6\n", 0);
        assert!(matches!(pull.end(), Some(PullEnd::AckUnconfirmed { .. })));
    }
}
