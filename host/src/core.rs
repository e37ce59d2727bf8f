//! The link's protocol logic, without I/O: [`LinkCore`].
//!
//! One state machine owns everything a host does with one game server:
//!
//! * **Sending** ([`LinkCore::send`]): a message waits until the game's capabilities are known
//!   (or could not be read), is encoded for them ([`EncodeJob`], run by the caller because
//!   zlib-9 of a megabyte takes a while), and its frames are delivered by a [`Delivery`],
//!   which keeps its chunks in flight, resends only what is missing and resumes after a
//!   reconnect. The game may verify after answering (PROTOCOL.md 5.3), so "every chunk
//!   held" is not yet success: the outcome is a `done` reply, a `received` report on stdout, or,
//!   when neither comes for [`LinkConfig::verify_after`] (or after a reconnect), the answer to
//!   `status(id)`. If the game turns out to miss chunks it held (dropped on its deferred check,
//!   or lost in a restart), those chunks are delivered again (bounded).
//! * **Receiving**: stdout events from the transport's reader. Completed messages are classified
//!   ([`crate::classify`]): application messages are reported, `staged` announcements start a
//!   [`Pull`], `received` reports settle sends, `caps` declarations update the capabilities.
//! * **Commands** share one RCON connection. Two windows bound them: [`LinkConfig::in_flight`]
//!   for everything that streams data into the game (frames, status and caps queries), and
//!   [`PullConfig::in_flight`](crate::PullConfig) for pulls and acks, which are tiny.
//!
//! Time is caller-supplied (`now`) and nothing here reads a clock, a socket or a pipe; the tokio
//! shell ([`crate::Link`]) and the tests drive it the same way: feed inputs, then drain
//! [`LinkCore::next_encode_job`], [`LinkCore::poll_command`] and [`LinkCore::poll_event`], and
//! come back at [`LinkCore::poll_timeout`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use invsync_codec::{Capabilities, EncodeOptions, Encoded, Error as CodecError, Message, Method};
use invsync_rcon_transport::{GameReply, RecvEntry, caps_command, parse_reply, status_command};
use invsync_stdout_transport::StdoutEvent;

use crate::config::LinkConfig;
use crate::control::{
    Classified, ControlMessage, ReceivedOutcome, ReceivedReport, StagedAnnouncement, classify,
    printable,
};
use crate::crossing::{
    Delivery, DeliveryConfig, DeliveryFailure, Pull, PullCommandKind, PullEnd, PullError,
    PullFailure, Purpose, SendToken,
};
use crate::error::{SendError, SendFailure};
use crate::events::{Confirmation, Delivered, LinkEvent, Problem, ReceivedMessage};
use crate::message_ids::MessageIds;
use crate::routing::{Path, to_game_options};

/// Completed staged messages remembered, to answer a repeated announcement with an `ack` only.
const REMEMBER_PULLED: usize = 64;
/// Finished host messages remembered, so that a late `received` report about one (the game may
/// report a message that a `done` reply already settled) is not taken for a stranger's.
const REMEMBER_FINISHED: usize = 64;

/// Identifies a command handed out by [`LinkCore::poll_command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandToken(pub u64);

/// What a command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `caps()`.
    Caps,
    /// `recv(frame)`: chunk `index` of host message `message`.
    Recv {
        /// Host message id.
        message: u32,
        /// Chunk number.
        index: u32,
    },
    /// `status(message)`.
    Status {
        /// Host message id.
        message: u32,
    },
    /// `pull(message, index)`.
    Pull {
        /// Staged (game) message id.
        message: u32,
        /// Chunk number.
        index: u32,
    },
    /// `ack(message)`.
    Ack {
        /// Staged (game) message id.
        message: u32,
    },
}

/// An RCON command to send; report its outcome with the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Pass it back with the outcome.
    pub token: CommandToken,
    /// What it does.
    pub kind: CommandKind,
    /// The RCON command text.
    pub text: String,
}

/// Encoding of one message for the game, to be run by the caller (possibly on another thread)
/// and handed back with [`LinkCore::on_encoded`].
#[derive(Debug, Clone)]
pub struct EncodeJob {
    /// Host message id.
    pub id: u32,
    payload: Arc<[u8]>,
    options: EncodeOptions,
}

impl EncodeJob {
    /// Encodes (pure, CPU-bound: `auto` tries every method the game declared).
    pub fn run(&self) -> Result<Encoded, CodecError> {
        invsync_codec::encode(self.id, &self.payload, &self.options)
    }

    /// The options used (the game's capabilities, parallelism, overhead).
    pub fn options(&self) -> &EncodeOptions {
        &self.options
    }
}

/// Counters of a link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Messages given to [`LinkCore::send`].
    pub sent: u64,
    /// Of those, delivered and confirmed.
    pub delivered: u64,
    /// Of those, failed.
    pub send_failed: u64,
    /// Application messages received inline on stdout.
    pub received_stdout: u64,
    /// Application messages received by pulling.
    pub received_pulled: u64,
    /// Staged messages that could not be pulled.
    pub receive_failed: u64,
    /// Commands handed out.
    pub commands: u64,
    /// Bytes of command text handed out (what the game had to stream in).
    pub command_bytes: u64,
}

#[derive(Debug)]
enum Owner {
    Caps,
    Delivery {
        message: u32,
        generation: u32,
        token: SendToken,
        status: bool,
    },
    Verify {
        message: u32,
    },
    Pull {
        message: u32,
        kind: PullCommandKind,
    },
}

#[derive(Debug, Default)]
struct CapsQuery {
    wanted: bool,
    in_flight: bool,
    attempts: u32,
    retry_at: Option<Instant>,
    gave_up: bool,
}

#[derive(Debug)]
enum OutState {
    Queued,
    Encoding,
    Delivering(Box<Delivery>),
    Verifying {
        next_query: Instant,
        queries: u32,
        query_in_flight: bool,
    },
}

#[derive(Debug)]
struct Outgoing {
    id: u32,
    payload: Option<Arc<[u8]>>,
    state: OutState,
    frames: Vec<String>,
    method: Method,
    payload_len: u64,
    wire_len: u64,
    commands: u64,
    command_bytes: u64,
    chunks_resent: u64,
    redeliveries: u32,
}

impl Outgoing {
    /// Moves the counters of the current delivery into the message's totals.
    fn absorb_delivery(&mut self) {
        if let OutState::Delivering(d) = &self.state {
            let s = d.stats();
            self.commands += s.commands;
            self.command_bytes += s.command_bytes;
            self.chunks_resent += s.chunks_resent;
        }
    }
}

/// One host's link to one game server, without I/O. See the module documentation.
#[derive(Debug)]
pub struct LinkCore {
    config: LinkConfig,
    ids: MessageIds,
    epoch: Instant,
    caps: Capabilities,
    caps_declared: bool,
    caps_query: CapsQuery,
    outgoing: HashMap<u32, Outgoing>,
    order: VecDeque<u32>,
    encode_jobs: VecDeque<EncodeJob>,
    pulls: Vec<Pull>,
    pull_queue: VecDeque<(StagedAnnouncement, bool)>,
    pulled: VecDeque<(u32, u32, u64)>,
    finished: VecDeque<u32>,
    tokens: HashMap<CommandToken, Owner>,
    next_token: u64,
    to_game_in_flight: usize,
    pulls_in_flight: usize,
    events: VecDeque<LinkEvent>,
    stopped: Option<String>,
    stats: LinkStats,
}

impl LinkCore {
    /// A link that allocates host message ids from `ids`. Until the game declares its
    /// capabilities, the protocol's assumption holds (`raw`, frames of at most 4000 bytes), and
    /// a `caps()` query is the first command.
    pub fn new(config: LinkConfig, ids: MessageIds, now: Instant) -> Self {
        LinkCore {
            config,
            ids,
            epoch: now,
            caps: Capabilities::assumed(),
            caps_declared: false,
            caps_query: CapsQuery {
                wanted: true,
                ..CapsQuery::default()
            },
            outgoing: HashMap::new(),
            order: VecDeque::new(),
            encode_jobs: VecDeque::new(),
            pulls: Vec::new(),
            pull_queue: VecDeque::new(),
            pulled: VecDeque::new(),
            finished: VecDeque::new(),
            tokens: HashMap::new(),
            next_token: 0,
            to_game_in_flight: 0,
            pulls_in_flight: 0,
            events: VecDeque::new(),
            stopped: None,
            stats: LinkStats::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The game's capabilities as last declared, or the protocol's assumption.
    pub fn caps(&self) -> &Capabilities {
        &self.caps
    }

    /// Why the link stopped, once it has ([`LinkCore::on_transport_stopped`]).
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Counters so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Commands handed out and not answered yet (both windows).
    pub fn in_flight(&self) -> usize {
        self.tokens.len()
    }

    /// Messages to the game not finished yet (queued, encoding, delivering or verifying).
    pub fn pending_sends(&self) -> usize {
        self.outgoing.len()
    }

    /// Staged messages being pulled or waiting to be.
    pub fn pending_pulls(&self) -> usize {
        self.pulls.len() + self.pull_queue.len()
    }

    /// Queues `payload` for the game and returns its message id. The outcome comes as
    /// [`LinkEvent::Delivered`] or [`LinkEvent::SendFailed`] with this id.
    pub fn send(&mut self, payload: impl Into<Vec<u8>>) -> u32 {
        let mut id = self.ids.next_id();
        while self.outgoing.contains_key(&id) {
            id = self.ids.next_id();
        }
        self.stats.sent += 1;
        if let Some(reason) = &self.stopped {
            let error = SendError {
                id: Some(id),
                failure: SendFailure::LinkClosed {
                    reason: reason.clone(),
                },
            };
            self.stats.send_failed += 1;
            self.events.push_back(LinkEvent::SendFailed(error));
            return id;
        }
        let payload: Vec<u8> = payload.into();
        tracing::debug!(id, bytes = payload.len(), "message queued for the game");
        self.outgoing.insert(
            id,
            Outgoing {
                id,
                payload: Some(payload.into()),
                state: OutState::Queued,
                frames: Vec::new(),
                method: Method::Raw,
                payload_len: 0,
                wire_len: 0,
                commands: 0,
                command_bytes: 0,
                chunks_resent: 0,
                redeliveries: 0,
            },
        );
        self.order.push_back(id);
        id
    }

    /// The RCON connection was (re)established: ask for the capabilities again (the game may
    /// have restarted with another module) and settle messages awaiting confirmation at once.
    pub fn on_connected(&mut self, now: Instant) {
        if !self.caps_query.in_flight {
            self.caps_query.wanted = true;
            self.caps_query.attempts = 0;
            self.caps_query.retry_at = None;
        }
        for o in self.outgoing.values_mut() {
            if let OutState::Verifying {
                next_query,
                query_in_flight: false,
                ..
            } = &mut o.state
            {
                *next_query = now;
            }
        }
    }

    /// The next message to encode, if one may start now.
    pub fn next_encode_job(&mut self) -> Option<EncodeJob> {
        self.start_messages();
        self.encode_jobs.pop_front()
    }

    /// The result of an [`EncodeJob`].
    pub fn on_encoded(&mut self, id: u32, result: Result<Encoded, CodecError>) {
        let delivery_config = self.delivery_config();
        let Some(o) = self.outgoing.get_mut(&id) else {
            return;
        };
        if !matches!(o.state, OutState::Encoding) {
            return;
        }
        let encoded = match result {
            Ok(e) => e,
            Err(error) => return self.fail(id, SendFailure::Encode(error)),
        };
        tracing::debug!(
            id,
            method = %encoded.method,
            frames = encoded.frames.len(),
            wire_bytes = encoded.wire_len,
            "message encoded for the game"
        );
        o.method = encoded.method;
        o.payload_len = encoded.payload_len;
        o.wire_len = encoded.wire_len;
        o.payload = None;
        match Delivery::new(id, encoded.frames.clone(), delivery_config) {
            Ok(d) => {
                o.frames = encoded.frames;
                o.state = OutState::Delivering(Box::new(d));
            }
            Err(error) => self.fail(id, SendFailure::Delivery(error.failure)),
        }
    }

    /// The [`EncodeJob`] of message `id` did not finish: the task running it panicked. The
    /// message fails with [`SendFailure::EncoderPanicked`].
    pub fn on_encoder_panicked(&mut self, id: u32, reason: String) {
        if self
            .outgoing
            .get(&id)
            .is_some_and(|o| matches!(o.state, OutState::Encoding))
        {
            self.fail(id, SendFailure::EncoderPanicked { reason });
        }
    }

    /// The next command to send, if a window and the state allow one now.
    pub fn poll_command(&mut self, now: Instant) -> Option<Command> {
        if self.stopped.is_some() {
            return None;
        }
        if self.to_game_in_flight < self.config.in_flight.max(1)
            && let Some(c) = self.poll_to_game(now)
        {
            return Some(c);
        }
        if self.pulls_in_flight < self.config.pull.in_flight.max(1) {
            self.start_pulls();
            for i in 0..self.pulls.len() {
                if let Some(c) = self.pulls[i].poll_command() {
                    let message = self.pulls[i].id();
                    let kind = match c.kind {
                        PullCommandKind::Chunk { index } => CommandKind::Pull { message, index },
                        PullCommandKind::Ack => CommandKind::Ack { message },
                    };
                    return Some(self.issue(
                        Owner::Pull {
                            message,
                            kind: c.kind,
                        },
                        kind,
                        c.text,
                    ));
                }
            }
        }
        None
    }

    fn poll_to_game(&mut self, now: Instant) -> Option<Command> {
        let q = &mut self.caps_query;
        if q.wanted && !q.in_flight && q.retry_at.is_none_or(|t| t <= now) {
            q.in_flight = true;
            q.retry_at = None;
            return Some(self.issue(Owner::Caps, CommandKind::Caps, caps_command()));
        }
        let mut found = None;
        for &id in &self.order {
            let Some(o) = self.outgoing.get_mut(&id) else {
                continue;
            };
            match &mut o.state {
                OutState::Verifying {
                    next_query,
                    query_in_flight,
                    ..
                } if !*query_in_flight && *next_query <= now => {
                    *query_in_flight = true;
                    found = Some((
                        Owner::Verify { message: id },
                        CommandKind::Status { message: id },
                        status_command(id),
                    ));
                    break;
                }
                OutState::Delivering(d) => {
                    if let Some(c) = d.poll_command(now) {
                        let kind = match c.purpose {
                            Purpose::Chunk { index } => CommandKind::Recv { message: id, index },
                            Purpose::Status => CommandKind::Status { message: id },
                        };
                        let owner = Owner::Delivery {
                            message: id,
                            generation: o.redeliveries,
                            token: c.token,
                            status: c.purpose == Purpose::Status,
                        };
                        found = Some((owner, kind, c.text));
                        break;
                    }
                }
                _ => {}
            }
        }
        found.map(|(owner, kind, text)| self.issue(owner, kind, text))
    }

    fn issue(&mut self, owner: Owner, kind: CommandKind, text: String) -> Command {
        let token = CommandToken(self.next_token);
        self.next_token += 1;
        if matches!(owner, Owner::Pull { .. }) {
            self.pulls_in_flight += 1;
        } else {
            self.to_game_in_flight += 1;
        }
        self.tokens.insert(token, owner);
        self.stats.commands += 1;
        self.stats.command_bytes += text.len() as u64;
        Command { token, kind, text }
    }

    fn take_owner(&mut self, token: CommandToken) -> Option<Owner> {
        let owner = self.tokens.remove(&token)?;
        if matches!(owner, Owner::Pull { .. }) {
            self.pulls_in_flight -= 1;
        } else {
            self.to_game_in_flight -= 1;
        }
        Some(owner)
    }

    /// The reply body to command `token`.
    pub fn on_reply(&mut self, token: CommandToken, body: &[u8], now: Instant) {
        let Some(owner) = self.take_owner(token) else {
            return;
        };
        match owner {
            Owner::Caps => self.on_caps_reply(body, now),
            Owner::Delivery {
                message,
                generation,
                token,
                status,
            } => {
                let by = if status {
                    Confirmation::Status
                } else {
                    Confirmation::Done
                };
                self.on_delivery_reply(message, generation, token, body, by, now)
            }
            Owner::Verify { message } => self.on_verify_reply(message, body, now),
            Owner::Pull { message, kind } => {
                let ticks = self.ticks(now);
                if let Some(p) = self.pulls.iter_mut().find(|p| p.id() == message) {
                    p.on_reply(kind, body, ticks);
                }
                self.settle_pulls();
            }
        }
    }

    /// Command `token` will get no reply (timed out, or the connection ended first).
    pub fn on_lost(&mut self, token: CommandToken, now: Instant) {
        let Some(owner) = self.take_owner(token) else {
            return;
        };
        match owner {
            Owner::Caps => self.caps_failed("the reply was lost".into(), now),
            Owner::Delivery {
                message,
                generation,
                token,
                ..
            } => {
                if let Some(d) = self.delivery(message, generation) {
                    d.on_lost(token);
                    self.check_delivery(message, now);
                }
            }
            Owner::Verify { message } => self.verify_later(message, now),
            Owner::Pull { message, kind } => {
                if let Some(p) = self.pulls.iter_mut().find(|p| p.id() == message) {
                    p.on_lost(kind);
                }
                self.settle_pulls();
            }
        }
    }

    /// Command `token` could not be sent at all (too long for the client, for example).
    pub fn on_unsendable(&mut self, token: CommandToken, reason: String, now: Instant) {
        let Some(owner) = self.take_owner(token) else {
            return;
        };
        match owner {
            Owner::Caps => self.caps_failed(reason, now),
            Owner::Delivery {
                message,
                generation,
                token,
                ..
            } => {
                if let Some(d) = self.delivery(message, generation) {
                    d.on_unsendable(token, reason);
                    self.check_delivery(message, now);
                }
            }
            Owner::Verify { message } => self.verify_later(message, now),
            Owner::Pull { message, .. } => {
                if let Some(p) = self.pulls.iter_mut().find(|p| p.id() == message) {
                    p.abort(reason);
                }
                self.settle_pulls();
            }
        }
    }

    /// An event from the game server's stdout.
    pub fn on_stdout(&mut self, event: StdoutEvent) {
        match event {
            StdoutEvent::Log(line) => self.events.push_back(LinkEvent::Log(line)),
            StdoutEvent::Message { message, .. } => self.on_message(message, Path::Stdout),
            StdoutEvent::Progress { .. } | StdoutEvent::Duplicate { .. } => {}
            StdoutEvent::FrameRejected { line, error } => {
                tracing::warn!(line, error = error.name(), "stdout frame rejected");
                self.problem(Problem::StdoutFrameRejected { line, error });
            }
            StdoutEvent::Expired(error) => self.problem(Problem::StdoutMessageExpired(error)),
            StdoutEvent::LineTooLong {
                line,
                max,
                protocol,
            } => self.problem(Problem::LineTooLong {
                line,
                max,
                protocol,
            }),
        }
    }

    /// The RCON transport stopped for good: every transfer fails.
    pub fn on_transport_stopped(&mut self, reason: String) {
        if self.stopped.is_some() {
            return;
        }
        tracing::warn!(%reason, "link stopped");
        self.stopped = Some(reason.clone());
        self.tokens.clear();
        self.to_game_in_flight = 0;
        self.pulls_in_flight = 0;
        self.encode_jobs.clear();
        let ids: Vec<u32> = self.order.iter().copied().collect();
        for id in ids {
            self.fail(
                id,
                SendFailure::LinkClosed {
                    reason: reason.clone(),
                },
            );
        }
        for p in &mut self.pulls {
            p.abort(reason.clone());
        }
        self.settle_pulls();
        for (a, _) in std::mem::take(&mut self.pull_queue) {
            self.stats.receive_failed += 1;
            self.events.push_back(LinkEvent::ReceiveFailed(PullError {
                id: a.id,
                failure: PullFailure::LinkClosed {
                    reason: reason.clone(),
                },
            }));
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When to poll again even if no input arrives (a retry or status query falls due).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped.is_some() {
            return None;
        }
        let q = &self.caps_query;
        let caps = (q.wanted && !q.in_flight).then_some(q.retry_at).flatten();
        let sends = self.outgoing.values().filter_map(|o| match &o.state {
            OutState::Verifying {
                next_query,
                query_in_flight: false,
                ..
            } => Some(*next_query),
            OutState::Delivering(d) => d.poll_timeout(),
            _ => None,
        });
        caps.into_iter().chain(sends).min()
    }

    fn ticks(&self, now: Instant) -> u64 {
        invsync_codec::ticks_in(now.saturating_duration_since(self.epoch))
    }

    fn delivery_config(&self) -> DeliveryConfig {
        DeliveryConfig {
            in_flight: self.config.in_flight.max(1),
            recv_entry: RecvEntry::declared(self.caps.recv_command.as_deref()),
            ..self.config.delivery.clone()
        }
    }

    fn delivery(&mut self, message: u32, generation: u32) -> Option<&mut Delivery> {
        match self.outgoing.get_mut(&message) {
            Some(Outgoing {
                state: OutState::Delivering(d),
                redeliveries,
                ..
            }) if *redeliveries == generation => Some(d),
            _ => None,
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.events.push_back(LinkEvent::Problem(problem));
    }

    // ---- sending ----

    fn start_messages(&mut self) {
        if self.stopped.is_some() || !(self.caps_declared || self.caps_query.gave_up) {
            return;
        }
        let max = self.config.max_active_sends.max(1);
        let mut active = self
            .outgoing
            .values()
            .filter(|o| !matches!(o.state, OutState::Queued))
            .count();
        for id in &self.order {
            if active >= max {
                break;
            }
            let Some(o) = self.outgoing.get_mut(id) else {
                continue;
            };
            if let (OutState::Queued, Some(payload)) = (&o.state, &o.payload) {
                let options = to_game_options(
                    &self.caps,
                    self.config.in_flight,
                    self.config.method,
                    self.config.zlib_level,
                    self.config.compact_frames,
                );
                self.encode_jobs.push_back(EncodeJob {
                    id: *id,
                    payload: payload.clone(),
                    options,
                });
                o.state = OutState::Encoding;
                active += 1;
            }
        }
    }

    fn on_delivery_reply(
        &mut self,
        message: u32,
        generation: u32,
        token: SendToken,
        body: &[u8],
        by: Confirmation,
        now: Instant,
    ) {
        let Some(o) = self.outgoing.get(&message) else {
            return;
        };
        // `done` and `failed` settle the message whatever state it is in (a late reply to a
        // chunk command can still carry the outcome).
        match parse_reply(body, o.frames.len()) {
            GameReply::Done { id } if id == message => {
                return self.finish(message, by);
            }
            GameReply::Failed { id, name, detail } if id == message => {
                return self.fail(
                    message,
                    SendFailure::Failed {
                        error: name,
                        detail: printable(&detail),
                    },
                );
            }
            _ => {}
        }
        if let Some(d) = self.delivery(message, generation) {
            d.on_reply(token, body, now);
            self.check_delivery(message, now);
        }
    }

    fn check_delivery(&mut self, message: u32, now: Instant) {
        let verify_after = self.config.verify_after;
        let Some(o) = self.outgoing.get_mut(&message) else {
            return;
        };
        let OutState::Delivering(d) = &o.state else {
            return;
        };
        // A delivery that has every chunk confirmed but no outcome, and nothing in flight, has
        // nothing left to do: the game's replies counted fewer chunks than it holds by now
        // (e.g. `ok 5 8/9` for the last chunk resent while a status round confirmed another).
        // `Delivery` waits forever then; the link treats it as "every chunk held" and lets
        // `status` settle it.
        let all_held = d.confirmed() == d.count() as usize && d.in_flight() == 0;
        match d.outcome() {
            None if !all_held => {}
            None | Some(Ok(())) => {
                o.absorb_delivery();
                tracing::debug!(id = message, "every chunk held; awaiting verification");
                o.state = OutState::Verifying {
                    next_query: now + verify_after,
                    queries: 0,
                    query_in_flight: false,
                };
            }
            Some(Err(error)) => {
                let failure = SendFailure::Delivery(error.failure.clone());
                self.fail(message, failure);
            }
        }
    }

    fn on_verify_reply(&mut self, message: u32, body: &[u8], now: Instant) {
        let (max_queries, max_redeliveries, verify_after) = (
            self.config.max_verify_queries,
            self.config.max_redeliveries,
            self.config.verify_after,
        );
        let delivery_config = self.delivery_config();
        let Some(o) = self.outgoing.get_mut(&message) else {
            return;
        };
        let reply = parse_reply(body, o.frames.len());
        match reply {
            GameReply::Done { id } if id == message => {
                return self.finish(message, Confirmation::Status);
            }
            GameReply::Failed { id, name, detail } if id == message => {
                return self.fail(
                    message,
                    SendFailure::Failed {
                        error: name,
                        detail: printable(&detail),
                    },
                );
            }
            GameReply::Rejected { id, name, detail } if id.is_none_or(|id| id == message) => {
                return self.fail(
                    message,
                    SendFailure::Delivery(DeliveryFailure::Rejected {
                        chunk: None,
                        name,
                        detail: printable(&detail),
                    }),
                );
            }
            _ => {}
        }
        let OutState::Verifying {
            next_query,
            queries,
            query_in_flight,
        } = &mut o.state
        else {
            return;
        };
        *query_in_flight = false;
        *queries += 1;
        let missing: Vec<u32> = match reply {
            GameReply::Missing { id, indices } if id == message && !indices.is_empty() => indices,
            GameReply::Unknown { id } if id == message => (1..=o.frames.len() as u32).collect(),
            // Still verifying, or an answer that says nothing: wait and ask again.
            _ => {
                if *queries >= max_queries {
                    let queries = *queries;
                    return self.fail(message, SendFailure::Unconfirmed { queries });
                }
                *next_query = now + verify_after;
                return;
            }
        };
        // The game no longer holds chunks it had confirmed: it dropped them on a deferred check
        // (damaged on the way, PROTOCOL.md 3) or lost them in a restart from a save. Deliver
        // those again.
        if o.redeliveries >= max_redeliveries {
            let redeliveries = o.redeliveries;
            return self.fail(message, SendFailure::Lost { redeliveries });
        }
        o.redeliveries += 1;
        tracing::warn!(
            id = message,
            redelivery = o.redeliveries,
            missing = missing.len(),
            "the game no longer holds chunks it held; delivering them again"
        );
        match Delivery::resume(message, o.frames.clone(), delivery_config, &missing) {
            Ok(d) => o.state = OutState::Delivering(Box::new(d)),
            Err(error) => self.fail(message, SendFailure::Delivery(error.failure)),
        }
    }

    fn verify_later(&mut self, message: u32, now: Instant) {
        let verify_after = self.config.verify_after;
        if let Some(Outgoing {
            state:
                OutState::Verifying {
                    next_query,
                    query_in_flight,
                    ..
                },
            ..
        }) = self.outgoing.get_mut(&message)
        {
            *query_in_flight = false;
            *next_query = now + verify_after;
        }
    }

    fn on_received_report(&mut self, report: ReceivedReport) {
        let id = report.id;
        let sending = self.outgoing.get(&id).is_some_and(|o| {
            matches!(
                o.state,
                OutState::Delivering(_) | OutState::Verifying { .. }
            )
        });
        if !sending {
            if self.finished.contains(&id) {
                tracing::debug!(id, "late report on a message already settled");
                return;
            }
            tracing::debug!(id, "report on a message this link is not sending");
            return self.problem(Problem::UnknownReport { id });
        }
        match report.outcome {
            ReceivedOutcome::Done => self.finish(id, Confirmation::Stdout),
            ReceivedOutcome::Failed { error, detail } => {
                self.fail(id, SendFailure::Failed { error, detail })
            }
        }
    }

    fn remove(&mut self, id: u32) -> Option<Outgoing> {
        let mut o = self.outgoing.remove(&id)?;
        if self.finished.len() >= REMEMBER_FINISHED {
            self.finished.pop_front();
        }
        self.finished.push_back(id);
        o.absorb_delivery();
        self.order.retain(|&x| x != id);
        self.encode_jobs.retain(|j| j.id != id);
        Some(o)
    }

    fn finish(&mut self, id: u32, confirmed_by: Confirmation) {
        let Some(o) = self.remove(id) else {
            return;
        };
        tracing::debug!(
            id,
            ?confirmed_by,
            commands = o.commands,
            "message delivered"
        );
        self.stats.delivered += 1;
        self.events.push_back(LinkEvent::Delivered(Delivered {
            id: o.id,
            method: o.method,
            frames: o.frames.len() as u32,
            payload_len: o.payload_len,
            wire_len: o.wire_len,
            commands: o.commands,
            command_bytes: o.command_bytes,
            chunks_resent: o.chunks_resent,
            confirmed_by,
        }));
    }

    fn fail(&mut self, id: u32, failure: SendFailure) {
        if self.remove(id).is_none() {
            return;
        }
        let error = SendError {
            id: Some(id),
            failure,
        };
        tracing::warn!(id, error = %error, "message to the game failed");
        self.stats.send_failed += 1;
        self.events.push_back(LinkEvent::SendFailed(error));
    }

    // ---- capabilities ----

    fn on_caps_reply(&mut self, body: &[u8], now: Instant) {
        self.caps_query.in_flight = false;
        let text = String::from_utf8_lossy(body);
        match Capabilities::from_json(text.trim_end_matches(['\r', '\n'])) {
            Ok(caps) => {
                self.caps_query.wanted = false;
                self.caps_query.attempts = 0;
                self.set_caps(caps);
            }
            Err(e) => self.caps_failed(format!("{e}; the reply was {:?}", printable(&text)), now),
        }
    }

    fn caps_failed(&mut self, last: String, now: Instant) {
        let q = &mut self.caps_query;
        q.in_flight = false;
        q.attempts += 1;
        if q.attempts < self.config.max_caps_attempts {
            q.retry_at = Some(now + self.config.caps_retry);
            return;
        }
        q.wanted = false;
        if !self.caps_declared && !q.gave_up {
            q.gave_up = true;
            let attempts = q.attempts;
            self.problem(Problem::CapsUnavailable { attempts, last });
        }
    }

    fn set_caps(&mut self, caps: Capabilities) {
        if self.caps_declared && caps == self.caps {
            return;
        }
        tracing::info!(decode = ?caps.decode, max_frame = caps.max_frame, "game capabilities");
        self.caps = caps.clone();
        self.caps_declared = true;
        self.events.push_back(LinkEvent::CapsChanged(caps));
    }

    // ---- receiving ----

    fn on_message(&mut self, m: Message, path: Path) {
        match classify(&m.payload) {
            Classified::Application => {
                match path {
                    Path::Stdout => self.stats.received_stdout += 1,
                    Path::Pulled => self.stats.received_pulled += 1,
                }
                tracing::debug!(
                    id = m.id,
                    bytes = m.payload.len(),
                    ?path,
                    "message from the game"
                );
                self.events.push_back(LinkEvent::Received(ReceivedMessage {
                    id: m.id,
                    payload: m.payload,
                    method: m.method,
                    count: m.count,
                    wire_len: m.wire_len,
                    path,
                }));
            }
            Classified::Control(ControlMessage::Staged(a)) => self.on_staged(a),
            Classified::Control(ControlMessage::Received(r)) => self.on_received_report(r),
            Classified::Control(ControlMessage::Caps(caps)) => self.set_caps(caps),
            Classified::Malformed(error) => {
                tracing::warn!(id = m.id, %error, "malformed control message");
                self.problem(Problem::BadControlMessage { id: m.id, error });
            }
        }
    }

    fn on_staged(&mut self, a: StagedAnnouncement) {
        let id = a.id;
        if self.pulls.iter().any(|p| p.id() == id) || self.pull_queue.iter().any(|q| q.0.id == id) {
            return; // announced again while in hand
        }
        let already = self
            .pulled
            .iter()
            .any(|&(i, c, w)| (i, c, w) == (id, a.count, a.wire_len));
        if self.pull_queue.len() >= self.config.max_queued_pulls {
            self.stats.receive_failed += 1;
            let reason = format!(
                "{} staged messages are already waiting to be pulled",
                self.pull_queue.len()
            );
            self.events.push_back(LinkEvent::ReceiveFailed(PullError {
                id,
                failure: PullFailure::BadAnnouncement { reason },
            }));
            return;
        }
        tracing::debug!(
            id,
            count = a.count,
            wire_bytes = a.wire_len,
            ack_only = already,
            "staged message announced"
        );
        self.pull_queue.push_back((a, already));
        self.start_pulls();
    }

    fn start_pulls(&mut self) {
        while self.stopped.is_none() && self.pulls.len() < self.config.max_active_pulls.max(1) {
            let Some((a, ack_only)) = self.pull_queue.pop_front() else {
                break;
            };
            let config = self.config.pull.clone();
            if ack_only {
                self.pulls.push(Pull::ack_only(a, config));
                continue;
            }
            match Pull::new(a, config) {
                Ok(p) => self.pulls.push(p),
                Err(e) => {
                    self.stats.receive_failed += 1;
                    self.events.push_back(LinkEvent::ReceiveFailed(e));
                }
            }
        }
    }

    fn settle_pulls(&mut self) {
        let mut i = 0;
        while i < self.pulls.len() {
            if let Some(m) = self.pulls[i].take_message() {
                let s = self.pulls[i].staged();
                if self.pulled.len() >= REMEMBER_PULLED {
                    self.pulled.pop_front();
                }
                self.pulled.push_back((s.id, s.count, s.wire_len));
                self.on_message(m, Path::Pulled);
            }
            if let Some(end) = self.pulls[i].end().cloned() {
                let id = self.pulls[i].id();
                self.pulls.remove(i);
                match end {
                    PullEnd::Acknowledged => tracing::debug!(id, "staged message acknowledged"),
                    PullEnd::AckUnconfirmed { last } => {
                        self.problem(Problem::AckUnconfirmed { id, last })
                    }
                    PullEnd::Failed(e) => {
                        tracing::warn!(id, error = %e, "staged message could not be pulled");
                        self.stats.receive_failed += 1;
                        self.events.push_back(LinkEvent::ReceiveFailed(e));
                    }
                }
                continue;
            }
            i += 1;
        }
        self.start_pulls();
    }
}
