//! A headless game-server stand-in: Factorio-like RCON, stdout and a Lua 5.2 scenario runtime.
//!
//! The core is sans-I/O: [`Game`] is a deterministic state machine (time is the tick counter) that
//! owns the Lua states, the world model and the command stream model, and returns stdout lines and
//! RCON replies per tick. The tokio shell ([`run`], [`serve`]) is a thin layer that reads RCON
//! packets, feeds them to the game, paces ticks and writes stdout. See `docs/EMULATOR.md` for
//! what is modelled and the sources of its numbers.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod api;
mod args;
mod context;
mod crafting;
mod driver;
mod error;
mod game;
mod game_strings;
mod instance;
mod inventory;
mod items;
mod lockstep;
mod logfmt;
mod logistics;
mod lua_json;
mod rcon_faults;
mod sandbox;
mod server;
mod snapshot;
mod stats;
mod stream;
mod warm_heap;
mod world;

pub use args::{EmulatorArgs, Secret};
pub use context::{Line, ScenarioFiles};
pub use error::EmulatorError;
pub use game::{Game, GameConfig, TickReport};
pub use game_strings::decode_string;
pub use instance::{Action, SaveState, TickInput};
pub use inventory::{Equipment, Grid, Inventory, InventoryKind, ItemStack};
pub use items::{ItemProto, Prototypes};
pub use lockstep::DesyncReport;
pub use logistics::{
    Filters as LogisticFilters, LogisticFilter, LogisticSection, MAX_SECTIONS, MAX_SLOT,
    RequesterPoint,
};
pub use rcon_faults::{FaultAction, RconFault};
pub use server::{run, serve, serve_until};
pub use stats::StatsSnapshot;
pub use stream::{CommandHandle, ReadyCommand, StreamSettings};
pub use warm_heap::{free_heap_bytes, warm_heap};
pub use world::{
    Bonuses, Character, Color, Controller, CraftingQueueItem, GuiElement, Player, Position, World,
};

/// The game version the emulator imitates (reported by `/version`, the first log line and
/// `script.active_mods`): the version of the API description it was checked against
/// (docs/EMULATOR.md, "Version").
pub const GAME_VERSION: &str = "2.0.45";
