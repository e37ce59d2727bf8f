//! What the store keeps for one player, and how it is written down.
//!
//! A player is two kinds of record:
//!
//! * the **head** ([`PlayerHead`]): generation, lease, epoch counter and the snapshot history's
//!   metadata. Small; rewritten by every operation with a compare-and-set on its revision.
//! * one **snapshot blob** per snapshot: the PLAYER_DATA JSON as it was uploaded, compressed and
//!   checksummed. Written once, never changed, deleted when it leaves the history.
//!
//! Both are checked when read: a head or blob that fails its checksum or its invariants is a
//! [`RecordError`] naming the player (and snapshot), never data handed to a game.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, on the cluster's one clock (the store's).
pub type Millis = u64;

/// Why a snapshot exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A game uploaded the player when they left.
    Upload,
    /// A game restarted from its autosave uploaded a player who was online before the crash.
    CrashRecovery,
    /// An admin imported a PLAYER_DATA file.
    AdminImport,
    /// An admin restored an older snapshot.
    Restore,
    /// An upload that was refused; its data is kept (pinned) so that an admin can restore it.
    Conflict,
}

impl Cause {
    /// The name used in messages, the admin tool and the docs.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Upload => "upload",
            Cause::CrashRecovery => "crash_recovery",
            Cause::AdminImport => "admin_import",
            Cause::Restore => "restore",
            Cause::Conflict => "conflict",
        }
    }
}

/// One entry of a player's snapshot history (its data is the blob of the same id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Unique for this player, increasing.
    pub id: u64,
    /// The generation it was stored as (for a conflict: the generation the upload claimed).
    pub generation: u64,
    /// The lease epoch it was written under (for a conflict: the epoch the upload carried).
    pub epoch: u64,
    /// The server that sent it, or `admin`.
    pub server: String,
    /// Why it exists.
    pub cause: Cause,
    /// When it was stored.
    pub time: Millis,
    /// Length of the PLAYER_DATA JSON in bytes.
    pub size: u64,
    /// CRC-32 of the PLAYER_DATA JSON.
    pub checksum: u32,
    /// Kept however long the history grows (conflicts are pinned until an admin unpins them).
    pub pinned: bool,
    /// For a conflict: why the upload was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The latest grant of a player to a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The server it was granted to.
    pub holder: String,
    /// The fencing epoch of this grant (equal to the head's `epoch` while this is the latest).
    pub epoch: u64,
    /// When it was granted.
    pub granted_at: Millis,
    /// When the holder last acquired it again.
    pub renewed_at: Millis,
    /// The holder's request number of its latest acquire (a `release` sent before the game
    /// learnt the epoch names the request instead).
    #[serde(default)]
    pub request: u64,
    /// When the hold ended (an upload was stored, the holder released it, an admin ended it);
    /// `None` while it is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Millis>,
}

impl Lease {
    /// True while the hold has not ended (whether or not its holder is alive).
    pub fn is_held(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// Everything about one player but the snapshot data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerHead {
    /// The player's name.
    pub player: String,
    /// The stored generation (0: nothing stored yet).
    pub generation: u64,
    /// The snapshot holding the stored generation's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// The highest lease epoch ever issued for this player (grants and admin writes); never
    /// decreases, never repeats.
    pub epoch: u64,
    /// The latest grant, if the current epoch was granted to a server (admin writes clear it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// The id the next snapshot gets.
    pub next_snapshot: u64,
    /// The snapshot history, oldest first.
    pub history: Vec<SnapshotMeta>,
}

impl PlayerHead {
    /// A player nobody has stored or held yet.
    pub fn new(player: &str) -> PlayerHead {
        PlayerHead {
            player: player.to_string(),
            generation: 0,
            current: None,
            epoch: 0,
            lease: None,
            next_snapshot: 1,
            history: Vec::new(),
        }
    }

    /// The history entry with this id.
    pub fn snapshot(&self, id: u64) -> Option<&SnapshotMeta> {
        self.history.iter().find(|s| s.id == id)
    }

    /// The lease, if it is held (not ended), whether or not the holder is alive.
    pub fn held(&self) -> Option<&Lease> {
        self.lease.as_ref().filter(|l| l.is_held())
    }

    fn check(&self, player: &str) -> Result<(), String> {
        if self.player != player {
            return Err(format!("the head names player {:?}", self.player));
        }
        if let Some(lease) = &self.lease
            && lease.epoch != self.epoch
        {
            return Err(format!(
                "lease epoch {} is not the current epoch {}",
                lease.epoch, self.epoch
            ));
        }
        match self.current {
            None if self.generation != 0 => {
                return Err(format!("generation {} has no snapshot", self.generation));
            }
            Some(id) => match self.snapshot(id) {
                None => return Err(format!("current snapshot {id} is not in the history")),
                Some(s) if s.generation != self.generation || s.cause == Cause::Conflict => {
                    return Err(format!(
                        "current snapshot {id} is not generation {}",
                        self.generation
                    ));
                }
                Some(_) => {}
            },
            None => {}
        }
        let mut last = 0;
        for s in &self.history {
            if s.id <= last || s.id >= self.next_snapshot {
                return Err(format!("snapshot id {} out of order", s.id));
            }
            last = s.id;
        }
        Ok(())
    }
}

/// Version byte of the head encoding.
const HEAD_FORMAT: &str = "h1";
/// Magic of a snapshot blob (version 1: LZ4 block of the JSON).
const BLOB_MAGIC: &[u8; 4] = b"ISN1";
/// Bytes before a blob's compressed data: magic, raw length, CRC-32.
const BLOB_HEADER: usize = 12;

/// A stored record that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A player's head record is damaged.
    #[error("player {player:?}: stored record is corrupt: {problem}")]
    CorruptHead {
        /// The player.
        player: String,
        /// What is wrong.
        problem: String,
    },
    /// A snapshot's data is damaged.
    #[error("player {player:?}, snapshot {snapshot}: stored data is corrupt: {problem}")]
    CorruptSnapshot {
        /// The player.
        player: String,
        /// The snapshot id.
        snapshot: u64,
        /// What is wrong.
        problem: String,
    },
}

/// Writes a head: `h1:<crc32 hex of the JSON>:<JSON>`.
pub fn encode_head(head: &PlayerHead) -> Vec<u8> {
    let json = serde_json::to_vec(head).expect("a head always serialises");
    let mut out = format!("{HEAD_FORMAT}:{:08x}:", crc32fast::hash(&json)).into_bytes();
    out.extend_from_slice(&json);
    out
}

/// Reads a head written by [`encode_head`], checking its checksum and invariants.
pub fn decode_head(player: &str, bytes: &[u8]) -> Result<PlayerHead, RecordError> {
    let corrupt = |problem: String| RecordError::CorruptHead {
        player: player.to_string(),
        problem,
    };
    let prefix = HEAD_FORMAT.len() + 10;
    if bytes.len() < prefix || &bytes[..3] != b"h1:" || bytes[prefix - 1] != b':' {
        return Err(corrupt("unknown format (expected h1:<crc>:<json>)".into()));
    }
    let crc = std::str::from_utf8(&bytes[3..11])
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| corrupt("checksum field is not hexadecimal".into()))?;
    let json = &bytes[prefix..];
    let actual = crc32fast::hash(json);
    if actual != crc {
        return Err(corrupt(format!(
            "checksum mismatch (stored {crc:08x}, computed {actual:08x})"
        )));
    }
    let head: PlayerHead =
        serde_json::from_slice(json).map_err(|e| corrupt(format!("bad JSON: {e}")))?;
    head.check(player).map_err(corrupt)?;
    Ok(head)
}

/// Writes a snapshot blob: `ISN1`, raw length (u32 LE), CRC-32 of the raw JSON (u32 LE), then
/// the LZ4 block of the JSON.
pub fn encode_blob(json: &[u8]) -> Vec<u8> {
    let len = u32::try_from(json.len()).expect("player data is bounded far below 4 GiB");
    let mut out = Vec::with_capacity(BLOB_HEADER + json.len() / 2);
    out.extend_from_slice(BLOB_MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(json).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(json));
    out
}

/// Reads a blob written by [`encode_blob`], checking its length bound and checksum against
/// `meta` and against itself.
pub fn decode_blob(
    player: &str,
    meta: &SnapshotMeta,
    blob: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, RecordError> {
    let corrupt = |problem: String| RecordError::CorruptSnapshot {
        player: player.to_string(),
        snapshot: meta.id,
        problem,
    };
    if blob.len() < BLOB_HEADER || &blob[..4] != BLOB_MAGIC {
        return Err(corrupt("unknown format (no ISN1 header)".into()));
    }
    let len = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(blob[8..12].try_into().expect("4 bytes"));
    if len > max_bytes {
        return Err(corrupt(format!(
            "declares {len} bytes, over the limit of {max_bytes}"
        )));
    }
    if len as u64 != meta.size || crc != meta.checksum {
        return Err(corrupt(format!(
            "header says {len} bytes with CRC {crc:08x}, the history says {} bytes with CRC {:08x}",
            meta.size, meta.checksum
        )));
    }
    let json = lz4_flex::block::decompress(&blob[BLOB_HEADER..], len)
        .map_err(|e| corrupt(format!("does not decompress: {e}")))?;
    if json.len() != len {
        return Err(corrupt(format!(
            "decompresses to {} bytes, not {len}",
            json.len()
        )));
    }
    let actual = crc32fast::hash(&json);
    if actual != crc {
        return Err(corrupt(format!(
            "checksum mismatch (stored {crc:08x}, computed {actual:08x})"
        )));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_for(json: &[u8]) -> SnapshotMeta {
        SnapshotMeta {
            id: 1,
            generation: 1,
            epoch: 1,
            server: "a".into(),
            cause: Cause::Upload,
            time: 0,
            size: json.len() as u64,
            checksum: crc32fast::hash(json),
            pinned: false,
            reason: None,
        }
    }

    #[test]
    fn blob_round_trips_and_every_flipped_byte_is_caught() {
        let json = br#"{"format":1,"name":"alice","inventories":{"main":[]}}"#;
        let meta = meta_for(json);
        let blob = encode_blob(json);
        assert_eq!(decode_blob("alice", &meta, &blob, 1 << 20).unwrap(), json);
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x41;
            let err = decode_blob("alice", &meta, &bad, 1 << 20).unwrap_err();
            assert!(
                matches!(&err, RecordError::CorruptSnapshot { player, snapshot: 1, .. } if player == "alice"),
                "byte {i}: {err}"
            );
        }
        assert!(decode_blob("alice", &meta, &blob[..blob.len() - 1], 1 << 20).is_err());
        let err = decode_blob("alice", &meta, &blob, 10).unwrap_err();
        assert!(err.to_string().contains("over the limit of 10"), "{err}");
    }

    #[test]
    fn head_round_trips_and_corruption_names_the_player() {
        let mut head = PlayerHead::new("bob");
        head.epoch = 2;
        head.lease = Some(Lease {
            holder: "s1".into(),
            epoch: 2,
            granted_at: 5,
            renewed_at: 6,
            request: 3,
            ended_at: None,
        });
        let bytes = encode_head(&head);
        assert_eq!(decode_head("bob", &bytes).unwrap(), head);
        let mut bad = bytes.clone();
        let last = bad.len() - 3;
        bad[last] ^= 1;
        let err = decode_head("bob", &bad).unwrap_err();
        assert!(err.to_string().contains("\"bob\""), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        // a valid record under another player's key is not this player's
        assert!(decode_head("carol", &bytes).is_err());
        assert!(decode_head("bob", b"").is_err());
        assert!(decode_head("bob", b"h1:zzzzzzzz:{}").is_err());
    }

    #[test]
    fn head_invariants_are_checked() {
        let mut head = PlayerHead::new("p");
        head.generation = 3; // no snapshot for it
        let err = decode_head("p", &encode_head(&head)).unwrap_err();
        assert!(
            err.to_string().contains("generation 3 has no snapshot"),
            "{err}"
        );
    }
}
