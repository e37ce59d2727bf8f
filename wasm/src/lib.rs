//! # invsync-wasm: the invsync codec for JavaScript hosts
//!
//! Clusterio and most game-server panels are Node.js programs. This crate compiles the Rust codec
//! (`invsync-codec`) to WebAssembly and exposes it to JavaScript with wasm-bindgen, so that a
//! host speaks `docs/PROTOCOL.md` without reimplementing it. `wasm/build.sh` builds the npm
//! package (`wasm/pkg/`); `wasm/README.md` is its user guide.
//!
//! What JavaScript sees (TypeScript declarations ship with the package):
//!
//! | export | wraps |
//! |---|---|
//! | `encode(id, payload, options?)` | [`invsync_codec::encode`] |
//! | `decodeMessage(frames, options?)` | [`invsync_codec::decode_message`] |
//! | `class Reassembler` | [`invsync_codec::Reassembler`] |
//! | `protocolVersion()`, `errorNames()` | [`invsync_codec::PROTOCOL_VERSION`], [`invsync_codec::ERROR_NAMES`] |
//!
//! ## Design notes
//!
//! * **A thin wrapper.** Every protocol decision is the codec's; this crate only converts
//!   between JavaScript values and Rust types, so the two implementations cannot drift apart.
//! * **Errors.** A codec error is thrown as a JavaScript `Error` whose `name` is the protocol name
//!   (PROTOCOL.md 3.1) and whose `message` is the Rust `Display` text (`js_error.rs`). A bad
//!   argument (a wrong type, a negative length, an unknown option key) is a `TypeError` or
//!   `RangeError` naming the argument: it is the caller's bug, not the peer's.
//! * **Untrusted frames.** A frame longer than the receiver's `max_frame` is refused from its
//!   JavaScript length, before any of it is copied into wasm memory, which never shrinks
//!   (`input.rs`).
//! * **Few copies.** A frame is copied once into wasm memory (UTF-8), a payload once out of it
//!   (a fresh `Uint8Array` the caller owns); nothing else crosses the boundary.
//! * **Time is the caller's.** `now` (game ticks) is an optional argument, never a clock read.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod caps;
mod decode;
mod encode;
mod input;
mod js_error;
mod options;
mod output;
mod reassembler;
mod typescript;

use wasm_bindgen::prelude::*;

pub use decode::decode_message;
pub use encode::encode;
pub use reassembler::Reassembler;

/// The protocol version this package speaks (the `1` of the `IS1` magic).
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    invsync_codec::PROTOCOL_VERSION
}

/// Every error name of PROTOCOL.md 3.1, in the order of its table.
#[wasm_bindgen(js_name = errorNames)]
pub fn error_names() -> Vec<String> {
    invsync_codec::ERROR_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect()
}
