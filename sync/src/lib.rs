//! # invsync-sync: the host half of the player sync
//!
//! Decides which game server holds a player and keeps every player's data, for all the hosts of
//! a cluster at once. The game half is the Lua module (`scenario/invsync/sync.lua`); the
//! messages between them are docs/PROTOCOL.md section 7, and the rules with their reasons are
//! docs/SYNC.md.
//!
//! ```
//! use std::sync::Arc;
//! use invsync_sync::{Acquired, MemoryStore, PlayerStore, Settings, UploadOutcome};
//!
//! let players = PlayerStore::new(Arc::new(MemoryStore::new()), Settings::default());
//! let Acquired::Acquired { epoch, generation, .. } = players.acquire("north", "alice", 1, 0, false, false)? else {
//!     unreachable!("nobody holds alice")
//! };
//! // while north holds alice, south is told so
//! assert!(matches!(players.acquire("south", "alice", 1, 0, false, false)?, Acquired::Busy { .. }));
//! // alice leaves north: her inventory is stored as the next generation, and the hold ends
//! let out = players.upload("north", "alice", generation + 1, epoch, false, br#"{"format":1}"#)?;
//! assert!(matches!(out, UploadOutcome::Stored { .. }));
//! assert!(matches!(players.acquire("south", "alice", 1, 0, false, false)?, Acquired::Acquired { .. }));
//! # Ok::<(), invsync_sync::StoreError>(())
//! ```
//!
//! ## Design notes
//!
//! * **Sans-I/O rules, dumb stores.** Every decision is a pure function (`decide.rs`) over a
//!   player's head record, the request, the cluster time and the holder's heartbeat. A
//!   [`Store`] only loads records and commits a new head with a compare-and-set on its
//!   revision, together with the snapshot blobs that change with it. [`PlayerStore`] runs the
//!   rules over any store and decides again when another writer came first. The three stores
//!   therefore cannot differ in a rule; the conformance suite checks that they agree on writes.
//! * **Fencing, not trust.** Every grant takes a new lease epoch, and an upload is stored only
//!   under the current epoch, from its holder, as the next generation. A server that was cut
//!   off, slow, or restarted from an old autosave cannot overwrite newer data, whatever the
//!   heartbeats said when it looked.
//! * **Nothing thrown away.** A refused upload's data is kept as a pinned `conflict`
//!   snapshot; the last `keep_snapshots` generations are kept as history.
//! * **Durable before answered.** A store returns from a commit only once it is durable
//!   (SQLite: a committed WAL transaction with `synchronous=FULL`; Redis: after the write with
//!   `appendfsync always`, and `WAIT` for replicas when configured).
//! * **One clock.** Lease expiry is judged on the store's clock, so hosts whose clocks differ
//!   agree.
//! * **Untrusted records.** Heads and blobs are checksummed; a damaged one is a
//!   [`RecordError`] naming the player and snapshot, and is never handed to a game.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod decide;
mod memory;
mod message;
#[cfg(feature = "stores")]
mod open;
mod player_store;
mod record;
#[cfg(feature = "stores")]
mod redis_store;
mod settings;
#[cfg(feature = "stores")]
mod sqlite;
mod store;

pub use decide::{AcquireOutcome, AdminRefusal, UploadOutcome};
pub use memory::MemoryStore;
pub use message::{
    GameMessage, MessageError, acquired_message, busy_message, error_message, is_sync_message,
    parse_game_message, player_data_message, player_delta_message, upload_refused_message,
    uploaded_message,
};
#[cfg(feature = "stores")]
pub use open::{open, redact_url};
pub use player_store::{
    Acquired, AdminError, Clock, MAX_PLAYER_NAME, MAX_SERVER_ID, PlayerDelta, PlayerStore,
    PlayerView,
};
pub use record::{
    Cause, Lease, Millis, PlayerHead, RecordError, SnapshotMeta, decode_blob, decode_head,
    encode_blob, encode_head,
};
#[cfg(feature = "stores")]
pub use redis_store::{RedisOptions, RedisStore};
pub use settings::Settings;
#[cfg(feature = "stores")]
pub use sqlite::SqliteStore;
pub use store::{Commit, Heartbeat, Revision, Store, StoreError, StoredHead};
