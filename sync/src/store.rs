//! The one trait every store implements: a few atomic, durable primitives and nothing else.
//!
//! A store does not decide anything. It keeps, per player, one head record with a revision
//! number and the snapshot blobs beside it, and it offers one write: [`Store::commit`], a
//! compare-and-set of the head on its revision together with the blobs that change with it,
//! all or nothing, durable before it returns. Every rule of the sync lives once, in
//! [`crate::decide`], and [`crate::PlayerStore`] runs it over any store; so the in-memory,
//! SQLite and Redis stores cannot disagree about a rule, only about whether a write happened,
//! which the conformance suite checks.

use crate::record::{Millis, RecordError};

/// A head's revision: 1 for its first write, +1 at each commit.
pub type Revision = u64;

/// A player's head record as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHead {
    /// Its revision, for the next compare-and-set.
    pub revision: Revision,
    /// The encoded head ([`crate::encode_head`]).
    pub bytes: Vec<u8>,
}

/// One atomic write of a player's records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commit {
    /// The new encoded head.
    pub head: Vec<u8>,
    /// Snapshot blobs to add, encoded ([`crate::encode_blob`]): (snapshot id, blob).
    pub put: Vec<(u64, Vec<u8>)>,
    /// Snapshot blobs to delete.
    pub delete: Vec<u64>,
}

/// A server's heartbeat as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The server id.
    pub server: String,
    /// Its last heartbeat, on the cluster clock.
    pub at: Millis,
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer (retry later).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with an error.
    #[error("store error: {0}")]
    Backend(String),
    /// A stored record is damaged.
    #[error(transparent)]
    Corrupt(#[from] RecordError),
    /// Other writers kept winning the compare-and-set on this player.
    #[error("player {0:?}: too many concurrent writers, gave up")]
    Contention(String),
    /// The store URL or its configuration is wrong.
    #[error("store configuration: {0}")]
    Config(String),
    /// A request that cannot be served (an unknown player, a bad name, data over the limit).
    #[error("{0}")]
    Invalid(String),
}

/// The storage primitives a [`crate::PlayerStore`] needs. Implementations: [`crate::MemoryStore`]
/// (the reference, for sans-I/O tests), [`crate::SqliteStore`], [`crate::RedisStore`].
///
/// Every method is a single round trip that either happens whole or not at all. Writes are
/// durable (on disk, or as the store's configuration makes them) before they return `Ok`.
pub trait Store: Send + Sync {
    /// The store as it may be shown to a person (a URL with any password redacted).
    fn describe(&self) -> String;

    /// The cluster's clock: the store's own time, so that hosts whose clocks differ agree.
    fn now(&self) -> Result<Millis, StoreError>;

    /// The player's head, if the player has a record.
    fn load(&self, player: &str) -> Result<Option<StoredHead>, StoreError>;

    /// Writes `commit` if the player's head is still at `expected` (`None`: the player has no
    /// record yet). Returns `Ok(false)`, writing nothing, when another writer came first.
    fn commit(
        &self,
        player: &str,
        expected: Option<Revision>,
        commit: &Commit,
    ) -> Result<bool, StoreError>;

    /// A snapshot's blob, if it exists.
    fn blob(&self, player: &str, snapshot: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every player with a record, sorted by name.
    fn players(&self) -> Result<Vec<String>, StoreError>;

    /// Records a heartbeat of `server` at `at`. A heartbeat never moves back in time.
    fn heartbeat(&self, server: &str, at: Millis) -> Result<(), StoreError>;

    /// The last heartbeat of `server`.
    fn heartbeat_of(&self, server: &str) -> Result<Option<Millis>, StoreError>;

    /// Every server's last heartbeat, sorted by server id.
    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError>;
}

/// The machine's wall clock in milliseconds since the Unix epoch.
pub(crate) fn system_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
