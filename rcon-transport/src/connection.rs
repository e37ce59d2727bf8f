//! The RCON client protocol as a sans-I/O state machine: auth, pipelined commands matched by
//! request id, per-command timeouts, and the two reply conventions.
//!
//! The caller moves bytes and time: it pushes received bytes with
//! [`Connection::handle_input`], writes whatever [`Connection::transmit`] returns, calls
//! [`Connection::handle_timeout`] once [`Connection::poll_timeout`] is reached, and drains
//! [`Connection::poll_event`]. Nothing here reads a clock or touches a socket.
//!
//! Reply conventions ([`Mode`]):
//! * **Factorio**: exactly one reply packet per command, however long, and no answer at all to
//!   an empty `SERVERDATA_RESPONSE_VALUE` probe (a client that sends one waits forever). A second
//!   packet for the same request id is a protocol violation: the peer splits replies or mixes up
//!   pipelined requests, and matching can no longer be trusted, so the connection is closed.
//! * **Srcds**: a reply may span several packets. After each command the client sends an empty
//!   `SERVERDATA_RESPONSE_VALUE` probe with its own id; the server answers requests in order and
//!   mirrors the probe, so the mirror marks the end of the command's reply. Some servers follow
//!   the mirror with one more packet carrying `00 00 00 01 00 00 00 00`; packets with a finished
//!   probe's id are ignored.
//!
//! Packets with request id 0 are ignored in both modes: the client never uses id 0, and
//! unconfirmed reports say Factorio sends chat and log lines with it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::packet::{
    Packet, PacketDecoder, PacketError, SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE,
    SERVERDATA_EXECCOMMAND, SERVERDATA_RESPONSE_VALUE,
};
use crate::password::Password;
use crate::request_id::RequestIds;

/// How the server ends a command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One reply packet per command (Factorio). No sentinel probes are sent.
    #[default]
    Factorio,
    /// Multi-packet replies ended by the empty-probe sentinel (Source dedicated servers).
    Srcds,
}

/// Limits and timeouts of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Reply convention.
    pub mode: Mode,
    /// Largest `length` field accepted from the server. Default 4 MiB: frames pulled from the
    /// game are at most 256 KiB (PROTOCOL.md section 4), ordinary replies far smaller.
    pub max_packet_length: usize,
    /// Largest command body sent. Default 16 MiB (the game's own cap is 100 MiB, but commands
    /// that large take hours to stream in).
    pub max_command_length: usize,
    /// Largest reply assembled from several packets in SRCDS mode. Default 16 MiB.
    pub max_reply_length: usize,
    /// Time a command may wait for its reply. Default 60 s: the game stops answering RCON while
    /// it saves, and a long command streams in at about 100 bytes per tick.
    pub command_timeout: Duration,
    /// Time the server may take to answer the auth packet. Default 10 s.
    pub auth_timeout: Duration,
    /// How many finished request ids are remembered, to tell a late reply (to a command that
    /// timed out) from a reply that matches nothing. Default 1024.
    pub remembered_ids: usize,
    /// The first request id used (the auth packet's). Default 1; tests start near `i32::MAX`
    /// to exercise the wrap.
    pub first_request_id: i32,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            mode: Mode::Factorio,
            max_packet_length: 4 << 20,
            max_command_length: 16 << 20,
            max_reply_length: 16 << 20,
            command_timeout: Duration::from_secs(60),
            auth_timeout: Duration::from_secs(10),
            remembered_ids: 1024,
            first_request_id: 1,
        }
    }
}

/// A command's handle, unique for the life of one [`Connection`] (unlike wire ids, which wrap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u64);

/// Why a connection ended. Every variant is terminal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionError {
    /// The server answered the auth request with id -1.
    #[error("RCON authentication failed: the server rejected the password")]
    WrongPassword,
    /// No auth reply in time.
    #[error("RCON authentication got no reply within {after:?}")]
    AuthTimedOut {
        /// The auth timeout.
        after: Duration,
    },
    /// The auth reply was not one of the two legal answers.
    #[error(
        "RCON authentication: expected a type-2 reply with id {expected_id} (or -1), got a \
         type-{kind} packet with id {id}"
    )]
    UnexpectedAuthReply {
        /// The auth request's id.
        expected_id: i32,
        /// The reply's request id.
        id: i32,
        /// The reply's packet type.
        kind: i32,
    },
    /// The byte stream broke the packet framing.
    #[error(transparent)]
    Framing(#[from] PacketError),
    /// A reply matched no request this client has outstanding or remembers.
    #[error(
        "RCON peer sent a type-{kind} packet with request id {id}, which matches no outstanding \
         request: the peer mixes up pipelined requests"
    )]
    UnmatchedReply {
        /// The packet's request id.
        id: i32,
        /// Its packet type.
        kind: i32,
    },
    /// A second reply packet for one request in Factorio mode.
    #[error(
        "RCON peer sent a second reply packet for request {id}; Factorio answers every command with \
         exactly one packet, so the peer either splits replies (use Srcds mode) or mixes up \
         pipelined requests"
    )]
    ExtraReplyPacket {
        /// The request id.
        id: i32,
    },
    /// A reply packet of a type other than `SERVERDATA_RESPONSE_VALUE`.
    #[error(
        "RCON peer sent a packet of type {kind} (request id {id}) where a reply (type 0) was expected"
    )]
    UnexpectedPacketType {
        /// The packet's request id.
        id: i32,
        /// Its packet type.
        kind: i32,
    },
    /// A multi-packet reply grew over [`ConnectionConfig::max_reply_length`].
    #[error("RCON reply to request {id} is over the limit of {max} bytes")]
    ReplyTooLong {
        /// The request id.
        id: i32,
        /// The limit in bytes.
        max: usize,
    },
    /// The transport closed or failed (set by the I/O shell).
    #[error("RCON connection lost: {reason}")]
    Disconnected {
        /// What the I/O reported.
        reason: String,
    },
}

/// Why one command failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// No reply within the command's timeout. The command may still run later.
    #[error("RCON command got no reply within {after:?} (it may still run later)")]
    TimedOut {
        /// The command's timeout.
        after: Duration,
    },
    /// The connection ended before the reply arrived. The command may or may not have run.
    #[error(
        "RCON connection ended before the reply arrived (the command may or may not have run): {0}"
    )]
    ConnectionLost(ConnectionError),
    /// The command is over [`ConnectionConfig::max_command_length`].
    #[error("RCON command of {len} bytes is over the limit of {max} bytes")]
    TooLong {
        /// The command's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The server would cut the command at a NUL byte.
    #[error("RCON command contains a NUL byte at offset {at}; the server would cut it there")]
    ContainsNul {
        /// Byte offset of the first NUL.
        at: usize,
    },
    /// The connection is not authenticated (yet, or any more).
    #[error("RCON connection is not ready for commands (not authenticated, or closed)")]
    NotReady,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The password was accepted; commands may be sent.
    Authenticated,
    /// A command's complete reply.
    Reply {
        /// The command answered.
        command: CommandId,
        /// The reply body (all packets joined in Srcds mode).
        body: Vec<u8>,
    },
    /// A command that will get no reply through this connection.
    CommandFailed {
        /// The command.
        command: CommandId,
        /// Why it gets no reply.
        error: CommandError,
    },
    /// The connection ended; emitted once, after the failures of all outstanding commands.
    Closed(ConnectionError),
}

#[derive(Debug)]
enum State {
    Authenticating { id: i32, deadline: Instant },
    Ready,
    Closed,
}

#[derive(Debug)]
struct Outstanding {
    command: CommandId,
    deadline: Instant,
    timeout: Duration,
    /// Reply bytes gathered so far (SRCDS mode).
    reply: Vec<u8>,
    /// The probe that ends this reply (SRCDS mode).
    sentinel: Option<i32>,
}

/// What a remembered, finished request id was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finished {
    /// Timed out: a reply may still come and is dropped.
    TimedOut,
    /// Got its one reply (Factorio mode): another packet is a violation.
    Answered,
    /// A probe whose mirror arrived (SRCDS mode): trailing packets are dropped.
    ProbeDone,
}

/// One RCON client connection, without I/O.
pub struct Connection {
    config: ConnectionConfig,
    state: State,
    ids: RequestIds,
    next_command: u64,
    outstanding: HashMap<i32, Outstanding>,
    /// Probe id -> id of the command it ends (SRCDS mode).
    probes: HashMap<i32, i32>,
    finished: HashMap<i32, Finished>,
    finished_order: VecDeque<i32>,
    decoder: PacketDecoder,
    outgoing: Vec<u8>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Connection {
    // Hand-written so the outgoing buffer (which holds the auth packet at first) is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("mode", &self.config.mode)
            .field("state", &self.state)
            .field("outstanding", &self.outstanding.len())
            .field("outgoing_bytes", &self.outgoing.len())
            .finish()
    }
}

impl Connection {
    /// A connection that starts by authenticating with `password`; the auth packet is ready
    /// in [`Connection::transmit`].
    pub fn new(config: ConnectionConfig, password: &Password, now: Instant) -> Self {
        let mut connection = Connection {
            decoder: PacketDecoder::new(config.max_packet_length),
            state: State::Authenticating {
                id: 0,
                deadline: now + config.auth_timeout,
            },
            ids: RequestIds::starting_at(config.first_request_id),
            next_command: 0,
            outstanding: HashMap::new(),
            probes: HashMap::new(),
            finished: HashMap::new(),
            finished_order: VecDeque::new(),
            outgoing: Vec::new(),
            events: VecDeque::new(),
            config,
        };
        let id = connection.allocate_id();
        let auth = Packet::new(id, SERVERDATA_AUTH, password.expose().as_bytes());
        // Passwords are not commands: a small command limit must not refuse a normal password.
        let limit = connection.send_limit().max(4096);
        match auth.encode_into(&mut connection.outgoing, limit) {
            Ok(()) => {
                connection.state = State::Authenticating {
                    id,
                    deadline: now + connection.config.auth_timeout,
                };
            }
            Err(err) => connection.close(ConnectionError::Framing(err)),
        }
        connection
    }

    /// The configuration in use.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// True once authenticated and until closed.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Commands sent and not yet answered, failed or timed out.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Queues a command with the configured timeout.
    pub fn send_command(&mut self, body: &str, now: Instant) -> Result<CommandId, CommandError> {
        let timeout = self.config.command_timeout;
        self.send_command_with_timeout(body, timeout, now)
    }

    /// Queues a command that fails with [`CommandError::TimedOut`] if no reply arrives within
    /// `timeout`.
    pub fn send_command_with_timeout(
        &mut self,
        body: &str,
        timeout: Duration,
        now: Instant,
    ) -> Result<CommandId, CommandError> {
        if !self.is_ready() {
            return Err(CommandError::NotReady);
        }
        if let Some(at) = body.bytes().position(|b| b == 0) {
            return Err(CommandError::ContainsNul { at });
        }
        if body.len() > self.config.max_command_length {
            return Err(CommandError::TooLong {
                len: body.len(),
                max: self.config.max_command_length,
            });
        }
        let id = self.allocate_id();
        let limit = self.send_limit();
        Packet::new(id, SERVERDATA_EXECCOMMAND, body.as_bytes())
            .encode_into(&mut self.outgoing, limit)
            .map_err(|_| CommandError::TooLong {
                len: body.len(),
                max: limit,
            })?;
        let sentinel = match self.config.mode {
            Mode::Factorio => None,
            Mode::Srcds => {
                let probe = self.allocate_id();
                Packet::new(probe, SERVERDATA_RESPONSE_VALUE, Vec::new())
                    .encode_into(&mut self.outgoing, limit)
                    .expect("an empty packet always fits");
                self.probes.insert(probe, id);
                Some(probe)
            }
        };
        let command = CommandId(self.next_command);
        self.next_command += 1;
        self.outstanding.insert(
            id,
            Outstanding {
                command,
                deadline: now + timeout,
                timeout,
                reply: Vec::new(),
                sentinel,
            },
        );
        Ok(command)
    }

    /// Bytes to write to the server, if any. Write all of them, in order.
    pub fn transmit(&mut self) -> Option<Vec<u8>> {
        if self.outgoing.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.outgoing))
        }
    }

    /// Processes bytes received from the server.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    if let Err(err) = self.handle_packet(packet) {
                        self.close(err);
                        return;
                    }
                }
                Ok(None) => return,
                Err(err) => {
                    self.close(ConnectionError::Framing(err));
                    return;
                }
            }
        }
    }

    /// The earliest time at which [`Connection::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Authenticating { deadline, .. } => Some(*deadline),
            State::Ready => self.outstanding.values().map(|o| o.deadline).min(),
            State::Closed => None,
        }
    }

    /// Fails the commands (or the auth) whose time is up at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Authenticating { deadline, .. } if deadline <= now => {
                let after = self.config.auth_timeout;
                self.close(ConnectionError::AuthTimedOut { after });
            }
            State::Ready => {
                let mut expired: Vec<(i32, CommandId)> = self
                    .outstanding
                    .iter()
                    .filter(|(_, o)| o.deadline <= now)
                    .map(|(id, o)| (*id, o.command))
                    .collect();
                // Report in the order the commands were sent, independent of hash order.
                expired.sort_by_key(|(_, command)| *command);
                for (id, _) in expired {
                    let outstanding = self.outstanding.remove(&id).expect("collected above");
                    self.remember(id, Finished::TimedOut);
                    if let Some(probe) = outstanding.sentinel {
                        self.probes.remove(&probe);
                        self.remember(probe, Finished::TimedOut);
                    }
                    self.events.push_back(Event::CommandFailed {
                        command: outstanding.command,
                        error: CommandError::TimedOut {
                            after: outstanding.timeout,
                        },
                    });
                }
            }
            _ => {}
        }
    }

    /// Ends the connection (the shell calls this when the socket closes or fails): every
    /// outstanding command fails with [`CommandError::ConnectionLost`], then [`Event::Closed`].
    pub fn close(&mut self, error: ConnectionError) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        let mut failed: Vec<(i32, Outstanding)> = self.outstanding.drain().collect();
        failed.sort_by_key(|(_, o)| o.command);
        for (_, outstanding) in failed {
            self.events.push_back(Event::CommandFailed {
                command: outstanding.command,
                error: CommandError::ConnectionLost(error.clone()),
            });
        }
        self.probes.clear();
        self.outgoing.clear();
        self.events.push_back(Event::Closed(error));
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn send_limit(&self) -> usize {
        self.config.max_command_length + crate::packet::MIN_PACKET_LENGTH
    }

    fn allocate_id(&mut self) -> i32 {
        let outstanding = &self.outstanding;
        let probes = &self.probes;
        let state = &self.state;
        let id = self.ids.allocate(|id| {
            outstanding.contains_key(&id)
                || probes.contains_key(&id)
                || matches!(state, State::Authenticating { id: auth, .. } if *auth == id)
        });
        // A reused id is a new request: forget what it meant before.
        self.finished.remove(&id);
        id
    }

    fn remember(&mut self, id: i32, what: Finished) {
        if self.config.remembered_ids == 0 {
            return;
        }
        if self.finished.insert(id, what).is_none() {
            self.finished_order.push_back(id);
        }
        while self.finished_order.len() > self.config.remembered_ids {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    fn handle_packet(&mut self, packet: Packet) -> Result<(), ConnectionError> {
        if let State::Authenticating { id: auth_id, .. } = self.state {
            return self.handle_auth_reply(auth_id, packet);
        }
        if packet.id == 0 {
            tracing::debug!(
                kind = packet.kind,
                len = packet.body.len(),
                "ignoring RCON packet with id 0"
            );
            return Ok(());
        }
        if self.outstanding.contains_key(&packet.id) {
            if packet.kind != SERVERDATA_RESPONSE_VALUE {
                return Err(ConnectionError::UnexpectedPacketType {
                    id: packet.id,
                    kind: packet.kind,
                });
            }
            return match self.config.mode {
                Mode::Factorio => {
                    let outstanding = self.outstanding.remove(&packet.id).expect("checked");
                    self.remember(packet.id, Finished::Answered);
                    self.events.push_back(Event::Reply {
                        command: outstanding.command,
                        body: packet.body,
                    });
                    Ok(())
                }
                Mode::Srcds => {
                    let max = self.config.max_reply_length;
                    let outstanding = self.outstanding.get_mut(&packet.id).expect("checked");
                    if outstanding.reply.len() + packet.body.len() > max {
                        return Err(ConnectionError::ReplyTooLong { id: packet.id, max });
                    }
                    outstanding.reply.extend_from_slice(&packet.body);
                    Ok(())
                }
            };
        }
        if let Some(command_id) = self.probes.remove(&packet.id) {
            // The mirror of a probe: everything for its command has arrived.
            self.remember(packet.id, Finished::ProbeDone);
            let outstanding = self
                .outstanding
                .remove(&command_id)
                .expect("a probe is removed with its command");
            self.remember(command_id, Finished::Answered);
            self.events.push_back(Event::Reply {
                command: outstanding.command,
                body: outstanding.reply,
            });
            return Ok(());
        }
        match self.finished.get(&packet.id) {
            Some(Finished::TimedOut) => {
                tracing::debug!(
                    id = packet.id,
                    "dropping a late RCON reply to a timed-out command"
                );
                Ok(())
            }
            Some(Finished::ProbeDone) => Ok(()),
            Some(Finished::Answered) => Err(ConnectionError::ExtraReplyPacket { id: packet.id }),
            None => Err(ConnectionError::UnmatchedReply {
                id: packet.id,
                kind: packet.kind,
            }),
        }
    }

    fn handle_auth_reply(&mut self, auth_id: i32, packet: Packet) -> Result<(), ConnectionError> {
        match (packet.kind, packet.id) {
            // SRCDS sends an empty RESPONSE_VALUE before the auth reply; harmless elsewhere.
            (SERVERDATA_RESPONSE_VALUE, id) if id == auth_id => Ok(()),
            (SERVERDATA_AUTH_RESPONSE, -1) => Err(ConnectionError::WrongPassword),
            (SERVERDATA_AUTH_RESPONSE, id) if id == auth_id => {
                self.state = State::Ready;
                self.events.push_back(Event::Authenticated);
                Ok(())
            }
            (kind, id) => Err(ConnectionError::UnexpectedAuthReply {
                expected_id: auth_id,
                id,
                kind,
            }),
        }
    }
}
