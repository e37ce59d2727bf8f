//! How one message crosses RCON, in each direction: the two per-message state machines, side by
//! side. Both are sans-I/O: they hand out RCON command texts, take each command's reply (or the
//! news that it will get none), and say when they are done. [`crate::LinkCore`] runs many of
//! them over one connection; the RCON client is the `invsync-rcon-transport` crate.
//!
//! # host -> game: [`Delivery`] (PROTOCOL.md 5.2, 5.3)
//!
//! The payload is encoded into frames for what the game declared (`caps()`), and each frame
//! goes in its own command: the module's custom command when the game declares one
//! (`recv_command`), the frame as its parameter, else the `recv` remote call, the frame as a Lua
//! long-bracket string. The encoder counts the chosen wrapper as each frame's overhead
//! ([`crate::LinkConfig`] has no say: the declaration decides, [`invsync_rcon_transport::RecvEntry`]):
//!
//! ```text
//! /invsync-recv IS1 ...                            ->  ok <id> <have>/<count> | done <id> | err ...
//! /sc remote.call("invsync","recv",[[IS1 ...]])   ->  the same answers
//! ```
//!
//! A frame a console might change at its ends (a `raw` frame ending in a space) takes the remote
//! call even when the command is declared.
//!
//! Several commands are in flight at once, because the game streams every command into the
//! simulation at about 100 bytes per tick in parallel; the game may run them in any order. A
//! command whose reply never comes (timeout, dropped connection) has an unknown outcome: it is
//! not resent blindly, but settled by `status(id)` (`missing <id> <ranges>`) once the rest is
//! answered, and only the missing chunks go again, so a reconnect resumes a transfer. A frame
//! the game rejects is resent only for the errors a resend can cure (damage in transit, a busy
//! receiver). The game may verify after it answers the last chunk; the link then learns the
//! outcome from a `received` report on stdout or from `status(id)`, and if `status` finds chunks
//! missing again (a deferred check dropped a frame damaged on the way, or the game restarted),
//! only those go again ([`Delivery::resume`]).
//!
//! # game -> host: [`Pull`] (PROTOCOL.md 5.4)
//!
//! A message that fits one stdout line comes inline on stdout and never touches RCON. A larger
//! one is staged in the game with its frames built, and announced on stdout (`staged`). The host
//! then asks for each frame, several in flight:
//!
//! ```text
//! /sc remote.call("invsync","pull",<id>,<index>)  ->  IS1 ... (the frame) | unknown <id> | err ...
//! /sc remote.call("invsync","ack",<id>)           ->  ok <id>
//! ```
//!
//! The frame comes back in the RCON reply, outside the game's input stream, so only the short
//! commands go into the game. Pulling only reads, so a lost or damaged reply is simply pulled
//! again. Every frame must be the chunk asked for; the reassembled message is verified, then
//! `ack(id)` lets the game free it.
//!
//! # Checked by the codec
//!
//! Frame headers are read by the codec's own parser ([`invsync_codec::Frame`]) in both
//! directions: the frames a delivery is given, and the frames a pull receives. The errors the
//! game names in its replies are the codec's, read back as [`invsync_codec::ErrorKind`]s; which
//! of them a resend can cure is decided on those kinds.

mod delivery;
mod pull;

pub use delivery::{
    Delivery, DeliveryCommand, DeliveryConfig, DeliveryError, DeliveryFailure, DeliveryStats,
    Purpose, SendToken,
};
pub use pull::{
    Pull, PullCommand, PullCommandKind, PullConfig, PullEnd, PullError, PullFailure, PullStats,
};

use invsync_codec::Header;

/// The first header field in which `got` differs from `want`, as `its <field> is <got>,
/// expected <want>`. Compares every field but the message checksum, which only the whole
/// message can confirm.
fn header_mismatch(got: &Header, want: &Header) -> Option<String> {
    fn differs<T: PartialEq + std::fmt::Display>(field: &str, got: T, want: T) -> Option<String> {
        (got != want).then(|| format!("its {field} is {got}, expected {want}"))
    }
    differs("id", got.id, want.id)
        .or_else(|| differs("index", got.index, want.index))
        .or_else(|| differs("count", got.count, want.count))
        .or_else(|| differs("method", got.method, want.method))
        .or_else(|| differs("wlen", got.wire_len, want.wire_len))
        .or_else(|| differs("plen", got.payload_len, want.payload_len))
}
