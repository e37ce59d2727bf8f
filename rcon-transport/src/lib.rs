//! The RCON side of invsync: a Source RCON client made for Factorio, and the text of the game
//! module's remote interface, its commands and its replies (docs/PROTOCOL.md 5.2, 5.3).
//! How a message crosses RCON with them, in each direction, is `invsync-host`'s `crossing`
//! (its `Delivery` and `Pull`).
//!
//! # Why our own RCON implementation
//!
//! Factorio answers every command with exactly **one** packet, however long, and ignores the
//! empty "sentinel" packet that SRCDS clients send to find the end of a multi-packet reply (a
//! client that relies on the sentinel hangs forever; one that splits at 4096 bytes truncates).
//! Throughput into the game is bytes per tick *per command in flight*, so the client must also
//! **pipeline** many commands on one connection and match replies by request id, while the game
//! may run (and answer) them out of order. No crate does both: `rcon` (with
//! `enable_factorio_quirks`) and `factorio-rcon` handle the single-packet replies, but both run
//! one command at a time through `&mut self` and wait for its reply; the SRCDS-style clients rely
//! on the sentinel. Hence this crate.
//!
//! # Layout
//!
//! A sans-I/O core, deterministic with caller-supplied time and tested without sockets:
//! [`PacketDecoder`] and [`Packet`] (framing; the length field is checked against a limit before
//! anything is buffered; the emulator's RCON server decodes requests with them too),
//! [`Connection`] (auth, pipelining, timeouts, both reply conventions: [`Mode::Factorio`] and
//! [`Mode::Srcds`]), and the game module's remote interface: its commands ([`recv_command`] and
//! the others, and [`RecvEntry`]: the module's custom command for frames when it declares one)
//! and its replies ([`parse_reply`], [`parse_pull_reply`]). A thin tokio shell
//! drives the connection: [`RconClient`] (one task per connection, reconnect with a backoff,
//! [`BackoffConfig`]).
//!
//! # Lua source
//!
//! Any text that goes into a Lua command passes through [`lua_long_string`], the one escaping
//! function (proved by a property test that Lua 5.2 reads back the same bytes).
//!
//! # Secrets
//!
//! The password lives in [`Password`], whose `Debug` is redacted; packets and connections print
//! sizes, never bodies.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod backoff;
mod client;
mod connection;
mod game_commands;
mod game_reply;
mod lua_string;
mod packet;
mod password;
mod request_id;

pub use backoff::BackoffConfig;
pub use client::{ClientConfig, LinkStatus, RconClient, RconError, Reply, StopReason};
pub use connection::{
    CommandError, CommandId, Connection, ConnectionConfig, ConnectionError, Event, Mode,
};
pub use game_commands::{
    RecvEntry, ack_command, caps_command, fits_command_parameter, pull_command, recv_command,
    recv_overhead, status_command,
};
pub use game_reply::{GameReply, PullReply, format_ranges, parse_pull_reply, parse_reply};
pub use lua_string::{long_bracket_level, lua_long_string};
pub use packet::{
    LENGTH_PREFIX, MIN_PACKET_LENGTH, Packet, PacketDecoder, PacketError, SERVERDATA_AUTH,
    SERVERDATA_AUTH_RESPONSE, SERVERDATA_EXECCOMMAND, SERVERDATA_RESPONSE_VALUE,
};
pub use password::Password;
