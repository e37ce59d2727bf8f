//! The in-memory store: the reference the real stores are compared with, and the store of the
//! sans-I/O tests. Not durable; not for production.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::record::Millis;
use crate::store::{Commit, Heartbeat, Revision, Store, StoreError, StoredHead, system_millis};

#[derive(Debug, Default)]
struct Inner {
    heads: BTreeMap<String, StoredHead>,
    blobs: BTreeMap<(String, u64), Vec<u8>>,
    heartbeats: BTreeMap<String, Millis>,
}

/// A store in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a panic while holding the lock leaves whole records only: every write below is done
        // after its checks, so the data is still consistent
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces a player's head bytes without a check, as a damaged disk would (tests only).
    pub fn corrupt_head(&self, player: &str, bytes: Vec<u8>) {
        if let Some(h) = self.lock().heads.get_mut(player) {
            h.bytes = bytes;
        }
    }

    /// Replaces a snapshot blob without a check, as a damaged disk would (tests only).
    pub fn corrupt_blob(&self, player: &str, snapshot: u64, bytes: Vec<u8>) {
        if let Some(b) = self.lock().blobs.get_mut(&(player.to_string(), snapshot)) {
            *b = bytes;
        }
    }
}

impl Store for MemoryStore {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn now(&self) -> Result<Millis, StoreError> {
        Ok(system_millis())
    }

    fn load(&self, player: &str) -> Result<Option<StoredHead>, StoreError> {
        Ok(self.lock().heads.get(player).cloned())
    }

    fn commit(
        &self,
        player: &str,
        expected: Option<Revision>,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let current = inner.heads.get(player).map(|h| h.revision);
        if current != expected {
            return Ok(false);
        }
        inner.heads.insert(
            player.to_string(),
            StoredHead {
                revision: expected.unwrap_or(0) + 1,
                bytes: commit.head.clone(),
            },
        );
        for (id, blob) in &commit.put {
            inner.blobs.insert((player.to_string(), *id), blob.clone());
        }
        for id in &commit.delete {
            inner.blobs.remove(&(player.to_string(), *id));
        }
        Ok(true)
    }

    fn blob(&self, player: &str, snapshot: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .blobs
            .get(&(player.to_string(), snapshot))
            .cloned())
    }

    fn players(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().heads.keys().cloned().collect())
    }

    fn heartbeat(&self, server: &str, at: Millis) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let e = inner.heartbeats.entry(server.to_string()).or_insert(at);
        *e = (*e).max(at);
        Ok(())
    }

    fn heartbeat_of(&self, server: &str) -> Result<Option<Millis>, StoreError> {
        Ok(self.lock().heartbeats.get(server).copied())
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        Ok(self
            .lock()
            .heartbeats
            .iter()
            .map(|(server, at)| Heartbeat {
                server: server.clone(),
                at: *at,
            })
            .collect())
    }
}
