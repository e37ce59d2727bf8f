//! What the workspace's tests share (a dev-dependency only, never shipped).
//!
//! * [`mock_game`]: a Factorio-like game server on 127.0.0.1 (RCON, commands run as Lua 5.2,
//!   a pipe for its stdout), used by the RCON transport's and the host link's tests.
//! * [`rcon_wire`]: Source RCON packets as the mock reads and writes them, written from the
//!   spec rather than taken from the crate under test.
//! * [`peers`]: whether a test fails or skips when an outside program it needs is missing.
//! * [`xorshift`]: deterministic pseudo-random numbers and incompressible test text.

pub mod mock_game;
pub mod peers;
pub mod rcon_wire;
pub mod xorshift;
