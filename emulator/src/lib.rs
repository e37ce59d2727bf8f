//! A headless game-server stand-in: Factorio-like RCON, stdout and a Lua 5.2 scenario runtime.
//!
//! The core is sans-I/O: [`Game`] is a deterministic state machine (time is the tick counter) that
//! owns the Lua states, the world model and the command stream model, and returns stdout lines and
//! RCON replies per tick. The tokio shell in [`server`] is a thin layer that reads RCON packets,
//! feeds them to the game, paces ticks and writes stdout. See `docs/EMULATOR.md` for what is
//! modelled and the sources of its numbers.

pub mod api;
pub mod args;
pub mod context;
pub mod crafting;
pub mod driver;
pub mod error;
pub mod game;
pub mod game_strings;
pub mod instance;
pub mod inventory;
pub mod items;
pub mod lockstep;
pub mod logfmt;
pub mod lua_json;
mod rcon_faults;
pub mod sandbox;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod stream;
pub mod warm_heap;
pub mod world;

pub use args::EmulatorArgs;
pub use context::{Line, ScenarioFiles};
pub use error::EmulatorError;
pub use game::{Game, GameConfig, TickReport};
pub use instance::{Action, SaveState};
pub use lockstep::DesyncReport;
pub use rcon_faults::{FaultAction, RconFault};
pub use server::{run, serve, serve_until};
pub use stats::StatsSnapshot;
pub use stream::{CommandHandle, StreamSettings};

/// The game version the emulator imitates (reported by `/version`, the first log line and
/// `script.active_mods`): the version of the API description it was checked against
/// (docs/EMULATOR.md, "Version").
pub const GAME_VERSION: &str = "2.0.45";
