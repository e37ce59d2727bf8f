//! # invsync-codec: frames for text channels
//!
//! A game server scripted in Lua can only exchange text with its host: RCON commands into the
//! game, stdout lines and RCON replies out of it. This crate turns any payload into **frames**,
//! single lines of text that survive both channels, and turns frames back into payloads. It is the
//! Rust implementation of `docs/PROTOCOL.md`; the Lua module (`scenario/`) and the JavaScript
//! package (`wasm/`) implement the same document and are checked against the same vectors
//! (`tests/vectors/`).
//!
//! ```
//! use invsync_codec::{encode, EncodeOptions, Outcome, Reassembler, ReassemblerConfig};
//!
//! let payload = br#"{"name":"alice","inventories":{"main":[]}}"#;
//! let message = encode(1, payload, &EncodeOptions::default())?;
//! let mut rx = Reassembler::new(ReassemblerConfig::default());
//! let mut delivered = None;
//! for frame in message.frames.iter().rev() {
//!     if let Outcome::Complete(m) = rx.push(frame.as_bytes(), 0)? {
//!         delivered = Some(m.payload);
//!     }
//! }
//! assert_eq!(delivered.as_deref(), Some(&payload[..]));
//! # Ok::<(), invsync_codec::Error>(())
//! ```
//!
//! ## Design notes
//!
//! * **Sans-I/O.** Nothing here reads a socket, a file or a clock. [`encode`] is a pure function;
//!   [`Reassembler`] is a state machine fed frames and a caller-supplied `now`. The transports
//!   (`invsync-stdout-transport`, `invsync-rcon-transport`) are thin shells around it.
//! * **Bytes into the game are the bottleneck** (about 100 bytes per tick per RCON command in
//!   flight), so the header is short, there is no per-character escaping, and `auto` picks the
//!   method with the fewest bytes on the wire, counting the channel's per-frame overhead.
//! * **Untrusted input.** Every frame is checked in a fixed order (PROTOCOL.md section 3) and
//!   every buffer is bounded: frame length, message size, chunk count, messages in progress and
//!   reserved bytes. Decompression is bounded by the declared payload length, which is itself
//!   bounded. Errors are [`Error`] variants named as in the protocol, so the Lua and JavaScript
//!   sides report the same names.
//! * **Framing is separate from meaning.** Frames carry any bytes; the player data model and the
//!   sample generator are a crate of their own (`invsync-player-data`).
//!
//! ## Crates used
//! `crc32fast` (CRC-32), `base64`, `lz4_flex` (block format, `checked-decode` always on since
//! frames are untrusted; its `safe-decode` is on by default through this crate's `safe-lz4`
//! feature) and `miniz_oxide` (zlib, pure Rust, so the crate builds for wasm32).

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod caps;
mod encode;
mod error;
mod frame;
mod method;
mod reassembler;
mod text;
mod wire;

pub use caps::{
    ASSUMED_MAX_FRAME, Capabilities, CapsError, DEFAULT_MAX_CHUNKS, DEFAULT_MAX_FRAME_PULL,
    DEFAULT_MAX_FRAME_RCON, DEFAULT_MAX_FRAME_STDOUT, DEFAULT_MAX_MESSAGE, MAX_RECV_COMMAND_LEN,
    is_recv_command_name,
};
pub use encode::{EncodeOptions, Encoded, encode, encode_with, frame_wire_text};
pub use error::{ERROR_NAMES, Error, ErrorKind, FrameRef};
pub use frame::{Frame, Header, HeaderFormat, MAGIC, MAX_LEN, PROTOCOL_VERSION, SHORT_MAGIC};
pub use method::{Method, MethodChoice, SOLID_MAX_PAYLOAD};
pub use reassembler::{Message, Outcome, Progress, Reassembler, ReassemblerConfig};
pub use wire::{
    DEFAULT_ZLIB_LEVEL, decode as decode_wire, decode_chunks as decode_wire_chunks,
    encode as encode_wire,
};

/// Decodes one whole message from its frames, given in any order (duplicates allowed).
///
/// A convenience over [`Reassembler`] for callers that already hold every frame. Fails with the
/// first frame's error, or with [`Error::Incomplete`] listing the missing chunks if the frames do
/// not complete a message. With frames of several messages, the first message completed wins.
pub fn decode_message<I, F>(frames: I, config: ReassemblerConfig) -> Result<Message, Error>
where
    I: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut rx = Reassembler::new(ReassemblerConfig {
        max_age_ticks: None,
        max_age_frames: None,
        ..config
    });
    let mut last_id = None;
    for f in frames {
        match rx.push(f.as_ref(), 0)? {
            Outcome::Complete(m) => return Ok(m),
            Outcome::Stored { id, .. } | Outcome::Duplicate { id, .. } => last_id = Some(id),
        }
    }
    let id = last_id.unwrap_or(0);
    let missing = rx.missing(id).unwrap_or_default();
    let count = rx
        .progress()
        .iter()
        .find(|p| p.id == id)
        .map_or(0, |p| p.count);
    Err(Error::Incomplete { id, count, missing })
}

/// Game ticks per second at normal speed: the game's fixed update rate (docs/GAME_FACTS.md,
/// "Ticks"). Ticks are the protocol's clock (`max_age_ticks`, the game module's timeouts); a
/// host that counts wall time converts it with [`ticks_in`], and the emulator runs this many
/// by default.
pub const TICKS_PER_SECOND: u32 = 60;

/// The whole ticks that `elapsed` wall time holds at normal speed ([`TICKS_PER_SECOND`]).
pub fn ticks_in(elapsed: std::time::Duration) -> u64 {
    (elapsed.as_millis() * u128::from(TICKS_PER_SECOND) / 1000) as u64
}

#[cfg(test)]
mod tick_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wall_time_in_ticks() {
        assert_eq!(ticks_in(Duration::ZERO), 0);
        assert_eq!(ticks_in(Duration::from_millis(16)), 0);
        assert_eq!(ticks_in(Duration::from_millis(17)), 1);
        assert_eq!(
            ticks_in(Duration::from_secs(1)),
            u64::from(TICKS_PER_SECOND)
        );
        assert_eq!(ticks_in(Duration::from_secs(600)), 36_000);
    }
}
