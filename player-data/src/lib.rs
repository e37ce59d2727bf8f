//! # invsync-player-data: what the frames carry
//!
//! The codec (`invsync-codec`) frames any bytes; this crate is the meaning of the bytes invsync
//! sends: one player's synced data as the scenario's Lua module writes and reads it
//! (`docs/PLAYER_DATA.md`), and deterministic samples of it for tests, benchmarks and the demo.
//!
//! ```
//! use invsync_player_data::{PlayerData, SampleKind, generate};
//!
//! let json = generate(SampleKind::Small, 1);
//! let player = PlayerData::from_json(&json)?;
//! assert!(player.stacks().count() > 0);
//! assert_eq!(player.to_json().as_bytes(), &json[..]);
//! # Ok::<(), serde_json::Error>(())
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod delta;
mod dense;
mod document;
mod logistics;
mod player;
mod sample;

pub use delta::{Cleared, Delta, DeltaError, apply, diff};
pub use dense::{MAX_SLOT, MAX_STACKS};
pub use logistics::{
    COMPARATORS, LogisticRequest, LogisticSection, Logistics, MAX_LOGISTIC_SECTIONS,
    MAX_LOGISTIC_SLOT, MAX_SECTION_FILTERS,
};
pub use player::{
    Color, Crafting, Equipment, Filters, Inventories, PLAYER_DATA_FORMAT, PlayerData, QueuedCraft,
    QuickBarSlot, SlotFilter, Stack,
};
pub use sample::{SampleKind, SplitMix64, generate, sample};
