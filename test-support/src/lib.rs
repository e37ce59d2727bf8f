//! What the workspace's tests share (a dev-dependency only, never shipped).
//!
//! * [`game`]: the game stand-in, the emulator in-process running the real scenario module, with
//!   its RCON faults and quirks, its stdout as a pipe and the commands it read.
//! * [`peers`]: whether a test fails or skips when an outside program it needs is missing.
//! * [`xorshift`]: deterministic pseudo-random numbers and incompressible test text.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod game;
pub mod peers;
pub mod xorshift;
