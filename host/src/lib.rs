//! # invsync-host: a host's link to one game server
//!
//! A [`Link`] is everything a host (a program that runs beside a Factorio server, such as a
//! Clusterio plugin's instance side) needs to exchange invsync messages with the game:
//!
//! * **host -> game** over RCON: each frame is one `recv` command, [`DEFAULT_IN_FLIGHT`] (16)
//!   commands in flight, encoded with `auto` over the methods the game declared, counting the
//!   RCON wrapper as per-frame overhead. A message is done when the game says so (`done`, a
//!   `received` report on stdout, or `status(id)` when unsure).
//! * **game -> host** inline on stdout when a message fits one stdout frame (3999 bytes: console
//!   windows stutter on longer lines), otherwise staged in the game, announced on stdout and
//!   pulled through RCON replies, several in flight, then acknowledged ([`plan_to_host`] is the
//!   rule).
//! * Ordinary stdout lines (the server log, chat) are handed to the host as they come; protocol
//!   lines are recognised only by the form feed at the start of a line, so a player cannot forge
//!   one through chat.
//!
//! ```no_run
//! # async fn demo(child_stdout: tokio::process::ChildStdout) -> Result<(), Box<dyn std::error::Error>> {
//! use invsync_host::{Incoming, Link, LinkOptions};
//! use invsync_rcon_transport::ClientConfig;
//!
//! let rcon = ClientConfig::new("127.0.0.1:27015", "password");
//! let (link, mut incoming) = Link::connect(rcon, child_stdout, LinkOptions::default()).await?;
//! tokio::spawn(async move {
//!     while let Some(event) = incoming.recv().await {
//!         match event {
//!             Incoming::Message(m) => println!("{} bytes from the game", m.payload.len()),
//!             Incoming::Log(line) => println!("log: {}", line.text),
//!             other => println!("{other:?}"),
//!         }
//!     }
//! });
//! let delivered = link.send(br#"{"type":"player","name":"alice"}"#.to_vec()).await?;
//! println!("message {} in the game as {}", delivered.id, delivered.method);
//! # Ok(()) }
//! ```
//!
//! ## Design notes
//!
//! * **Sans-I/O core.** [`LinkCore`] holds every decision: routing, capabilities, message ids,
//!   verification, pulls. It takes caller-supplied time and inputs and hands out commands,
//!   encoding jobs and events, so tests drive it without sockets. [`Link`] is a thin tokio shell
//!   that moves bytes and time. The per-message machines, side by side in `crossing` (how a
//!   message crosses RCON), are [`Delivery`] (frames into the game) and [`Pull`] (frames out).
//! * **Capabilities.** The first command is `caps()`; a `caps` control message on stdout
//!   updates them at any time. Messages wait for the first answer; if none comes, the protocol's
//!   assumption (`raw`, 4000-byte frames) is used. Frames go in by the game's custom command
//!   when it declares `recv_command`, by the `recv` remote call otherwise (PROTOCOL.md 5.2).
//! * **Untrusted input.** Replies and stdout are parsed by bounded parsers (the transports', the
//!   codec's reassembler, [`classify`]); a `staged` announcement is checked against this host's
//!   limits before anything is pulled, and every pulled frame must be the chunk asked for.
//!   Every retry is bounded. Nothing is allocated from a length the game states without a
//!   limit check.
//! * **Message ids** for host -> game messages come from [`MessageIds`], seeded from the clock
//!   by default, so a restarted host does not reuse the ids the game may still remember.
//! * **Logging.** `tracing`, with ids, sizes and error names; never payloads, frames or the RCON
//!   password (the transport redacts it).

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod config;
mod control;
mod core;
mod crossing;
mod error;
mod events;
mod export_json;
mod link;
mod message_ids;
mod routing;

pub use crate::core::{Command, CommandKind, CommandToken, EncodeJob, LinkCore, LinkStats};
pub use config::LinkConfig;
pub use control::{
    Classified, ControlError, ControlMessage, ReceivedOutcome, ReceivedReport, StagedAnnouncement,
    classify,
};
pub use crossing::{
    Delivery, DeliveryCommand, DeliveryConfig, DeliveryError, DeliveryFailure, DeliveryStats, Pull,
    PullCommand, PullCommandKind, PullConfig, PullEnd, PullError, PullFailure, PullStats, Purpose,
    SendToken,
};
pub use error::{SendError, SendFailure};
pub use events::{Confirmation, Delivered, LinkEvent, Problem, ReceivedMessage};
pub use export_json::{MAX_EXPORT_JSON, Rewritten, export_json, for_game, rewrite_exports};
pub use link::{Incoming, Link, LinkError, LinkOptions, PendingSend};
pub use message_ids::MessageIds;
pub use routing::{DEFAULT_IN_FLIGHT, Path, ToHostPlan, ToHostPolicy, plan_to_host};
