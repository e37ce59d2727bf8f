//! Every decision of the player sync, as pure functions: no I/O, time supplied by the caller.
//!
//! Each function takes a player's [`PlayerHead`] as it is in the store, the request, the
//! cluster's time and (where a lease's liveness matters) its holder's last heartbeat, and returns
//! what to answer and the [`Change`] to write. [`crate::PlayerStore`] applies the change with a
//! compare-and-set on the head's revision and decides again if another writer came first, so
//! these rules hold on every store exactly as they are written here.
//!
//! The rules (docs/SYNC.md has them with their reasons and a state diagram):
//! * a lease is **live** while its holder's heartbeat (or the lease's own renewal) is younger
//!   than the lease timeout; a live lease of another server makes `acquire` answer `busy`;
//! * every grant takes a new **epoch** (the head's counter + 1); admin writes take one too, so
//!   the fencing token of any earlier holder is stale from then on;
//! * an upload is stored only when it carries the current epoch, from the server that epoch was
//!   granted to, and generation = stored + 1; the same upload again is `uploaded` again; any
//!   other upload is refused and its data kept as a pinned `conflict` snapshot. One grant
//!   stores at most one generation: the game acquires again (a new epoch) before it uploads again.

use crate::record::{Cause, Lease, Millis, PlayerHead, SnapshotMeta};
use crate::settings::Settings;

/// What a decision writes: the new head and the blobs that come and go with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Change {
    /// Snapshot blobs to add: (snapshot id, PLAYER_DATA JSON, not yet encoded).
    pub(crate) put: Vec<(u64, Vec<u8>)>,
    /// Snapshot blobs to delete (they left the history).
    pub(crate) delete: Vec<u64>,
}

/// What a decision about a hold judges by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The cluster's time.
    pub(crate) now: Millis,
    /// The last heartbeat of the server holding the player, if it ever sent one.
    pub(crate) holder_heartbeat: Option<Millis>,
    /// The cluster's settings (lease timeout, history kept).
    pub(crate) settings: &'a Settings,
}

/// The server name admin writes are recorded under.
const ADMIN: &str = "admin";

/// True when `lease` is held and its holder counts as alive at `cx.now`.
pub(crate) fn is_live(lease: &Lease, cx: &Context<'_>) -> bool {
    if !lease.is_held() {
        return false;
    }
    let seen = cx.holder_heartbeat.unwrap_or(0).max(lease.renewed_at);
    cx.now < seen.saturating_add(cx.settings.lease_timeout_ms)
}

/// The answer to `acquire`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireOutcome {
    /// This server holds the player now.
    Acquired {
        /// The stored generation (0: nothing stored).
        generation: u64,
        /// The lease epoch the server must send back with its upload or release.
        epoch: u64,
        /// The snapshot whose data the game needs, or `None` to keep its local copy.
        send: Option<u64>,
        /// The snapshot of the game's local copy, when `send` may go as a delta against it
        /// (the store sends it so only if both read and parse and the delta is smaller).
        base: Option<u64>,
    },
    /// Another server holds the player.
    Busy {
        /// That server.
        holder: String,
        /// When it was granted the player.
        since: Millis,
    },
}

/// An `acquire` as the store sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AcquireRequest<'a> {
    /// The asking server.
    pub(crate) server: &'a str,
    /// The game's request number.
    pub(crate) request: u64,
    /// The generation of the game's local copy (0: none).
    pub(crate) local_generation: u64,
    /// The local copy is the one this server uploaded at `local_generation`, unchanged since.
    pub(crate) unchanged: bool,
    /// The game applies a `player_delta` against its local copy.
    pub(crate) delta: bool,
}

/// Decides an `acquire`; the new head (if any) has no blobs to write.
pub(crate) fn acquire(
    head: &PlayerHead,
    req: &AcquireRequest<'_>,
    cx: &Context<'_>,
) -> (AcquireOutcome, Option<PlayerHead>) {
    let AcquireRequest {
        server,
        request,
        local_generation,
        unchanged,
        delta,
    } = *req;
    let now = cx.now;
    let mut next = head.clone();
    let epoch = match head.held() {
        Some(lease) if lease.holder == server => {
            // the holder asks again (a retry, a rejoin, a restart): same grant, renewed
            let lease = next.lease.as_mut().expect("held");
            lease.renewed_at = now;
            lease.request = request;
            lease.epoch
        }
        Some(lease) if is_live(lease, cx) => {
            return (
                AcquireOutcome::Busy {
                    holder: lease.holder.clone(),
                    since: lease.granted_at,
                },
                None,
            );
        }
        _ => {
            next.epoch = head.epoch + 1;
            next.lease = Some(Lease {
                holder: server.to_string(),
                epoch: next.epoch,
                granted_at: now,
                renewed_at: now,
                request,
                ended_at: None,
            });
            next.epoch
        }
    };
    let send = match head.current {
        Some(id) if !(unchanged && local_generation == head.generation) => Some(id),
        _ => None,
    };
    // the snapshot that stored the game's generation, if it is still kept; a conflict claims a
    // generation it never became
    let base = match send {
        Some(_) if delta && unchanged && (1..head.generation).contains(&local_generation) => head
            .history
            .iter()
            .find(|s| s.generation == local_generation && s.cause != Cause::Conflict)
            .map(|s| s.id),
        _ => None,
    };
    (
        AcquireOutcome::Acquired {
            generation: head.generation,
            epoch,
            send,
            base,
        },
        Some(next),
    )
}

/// An upload as the store sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UploadRequest<'a> {
    /// The sending server.
    pub(crate) server: &'a str,
    /// The generation it asks to store (the acquired one + 1).
    pub(crate) generation: u64,
    /// The lease epoch it holds (or held).
    pub(crate) epoch: u64,
    /// Sent by a game restarted from its autosave for a player online before the crash.
    pub(crate) recovered: bool,
    /// The PLAYER_DATA JSON.
    pub(crate) data: &'a [u8],
}

/// The answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Stored as a new generation (snapshot id); the hold ended.
    Stored {
        /// The snapshot it was stored as.
        snapshot: u64,
    },
    /// The same upload was stored before (snapshot id): answered `uploaded` again.
    Repeat {
        /// The snapshot it was stored as.
        snapshot: u64,
    },
    /// Not stored; the data is kept as the conflict snapshot named.
    Refused {
        /// Why, for the game's log and the admin.
        reason: String,
        /// The pinned conflict snapshot holding the data.
        conflict: u64,
    },
}

/// Decides an upload; the blob to write (if any) is in the returned [`Change`].
pub(crate) fn upload(
    head: &PlayerHead,
    up: &UploadRequest<'_>,
    now: Millis,
    settings: &Settings,
) -> (UploadOutcome, Option<(PlayerHead, Change)>) {
    let checksum = crc32fast::hash(up.data);
    let size = up.data.len() as u64;
    let same = |s: &SnapshotMeta| {
        s.generation == up.generation
            && s.epoch == up.epoch
            && s.server == up.server
            && s.checksum == checksum
            && s.size == size
    };
    if let Some(s) = head
        .history
        .iter()
        .find(|s| same(s) && s.cause != Cause::Conflict)
    {
        return (UploadOutcome::Repeat { snapshot: s.id }, None);
    }
    let refusal = match &head.lease {
        _ if up.epoch != head.epoch => Some(format!(
            "lease epoch {} is not the current epoch {}",
            up.epoch, head.epoch
        )),
        None => Some(format!(
            "epoch {} was not granted to a server (an admin wrote the player)",
            up.epoch
        )),
        Some(lease) if lease.holder != up.server => Some(format!(
            "epoch {} was granted to {}, not {}",
            up.epoch, lease.holder, up.server
        )),
        Some(_)
            if head
                .history
                .iter()
                .any(|s| s.epoch == up.epoch && s.cause != Cause::Conflict) =>
        {
            Some(format!(
                "epoch {} already stored generation {}; a new grant is needed",
                up.epoch, head.generation
            ))
        }
        Some(_) if up.generation != head.generation + 1 => Some(format!(
            "generation {} is not the stored generation {} + 1",
            up.generation, head.generation
        )),
        Some(_) => None,
    };
    let mut next = head.clone();
    let mut change = Change::default();
    let id = next.next_snapshot;
    if let Some(reason) = refusal {
        if let Some(s) = head
            .history
            .iter()
            .find(|s| same(s) && s.cause == Cause::Conflict)
        {
            // a retry of an upload refused before: kept once
            return (
                UploadOutcome::Refused {
                    reason,
                    conflict: s.id,
                },
                None,
            );
        }
        next.next_snapshot += 1;
        next.history.push(SnapshotMeta {
            id,
            generation: up.generation,
            epoch: up.epoch,
            server: up.server.to_string(),
            cause: Cause::Conflict,
            time: now,
            size,
            checksum,
            pinned: true,
            reason: Some(reason.clone()),
        });
        change.put.push((id, up.data.to_vec()));
        return (
            UploadOutcome::Refused {
                reason,
                conflict: id,
            },
            Some((next, change)),
        );
    }
    let cause = if up.recovered {
        Cause::CrashRecovery
    } else {
        Cause::Upload
    };
    let written = Written {
        server: up.server,
        epoch: up.epoch,
        cause,
        data: up.data,
    };
    store_generation(&mut next, &mut change, &written, now, settings);
    if let Some(lease) = next.lease.as_mut() {
        lease.ended_at.get_or_insert(now);
    }
    (UploadOutcome::Stored { snapshot: id }, Some((next, change)))
}

/// Data to store as a generation, and who stored it why.
struct Written<'a> {
    server: &'a str,
    epoch: u64,
    cause: Cause,
    data: &'a [u8],
}

/// Adds `written` as the next generation and prunes the history.
fn store_generation(
    head: &mut PlayerHead,
    change: &mut Change,
    written: &Written<'_>,
    now: Millis,
    settings: &Settings,
) {
    let Written {
        server,
        epoch,
        cause,
        data,
    } = *written;
    let id = head.next_snapshot;
    head.next_snapshot += 1;
    head.generation += 1;
    head.current = Some(id);
    head.history.push(SnapshotMeta {
        id,
        generation: head.generation,
        epoch,
        server: server.to_string(),
        cause,
        time: now,
        size: data.len() as u64,
        checksum: crc32fast::hash(data),
        pinned: false,
        reason: None,
    });
    change.put.push((id, data.to_vec()));
    prune(head, change, settings);
}

/// Keeps the newest `settings.keep_snapshots` unpinned snapshots, every pinned one, and the
/// current one.
fn prune(head: &mut PlayerHead, change: &mut Change, settings: &Settings) {
    let unpinned = head.history.iter().filter(|s| !s.pinned).count();
    let mut excess = unpinned.saturating_sub(settings.keep_snapshots.max(1));
    let current = head.current;
    head.history.retain(|s| {
        if excess > 0 && !s.pinned && Some(s.id) != current {
            excess -= 1;
            change.delete.push(s.id);
            false
        } else {
            true
        }
    });
}

/// A `release` from `server` of the grant of `epoch` (or, when the game did not learn the epoch
/// yet, of the grant its acquire `request` got): ends the hold only if it is that grant's.
pub(crate) fn release(
    head: &PlayerHead,
    server: &str,
    request: u64,
    epoch: Option<u64>,
    now: Millis,
) -> Option<PlayerHead> {
    match head.held() {
        Some(lease)
            if lease.holder == server
                && epoch.map_or(lease.request == request, |e| e == lease.epoch) =>
        {
            let mut next = head.clone();
            next.lease.as_mut().expect("held").ended_at = Some(now);
            Some(next)
        }
        _ => None,
    }
}

/// Why an admin operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    /// A live lease is held and `--force` was not given.
    #[error(
        "player {player:?} is held by {holder} (live lease, epoch {epoch}); use --force to end it"
    )]
    Held {
        /// The player.
        player: String,
        /// The holder.
        holder: String,
        /// The lease epoch.
        epoch: u64,
    },
    /// No such snapshot in the player's history.
    #[error("player {player:?} has no snapshot {snapshot}")]
    NoSnapshot {
        /// The player.
        player: String,
        /// The snapshot asked for.
        snapshot: u64,
    },
    /// The snapshot is a conflict that is the only copy of refused data, or otherwise cannot be
    /// changed as asked.
    #[error("player {player:?}, snapshot {snapshot}: {problem}")]
    Snapshot {
        /// The player.
        player: String,
        /// The snapshot.
        snapshot: u64,
        /// What is wrong.
        problem: String,
    },
}

fn refuse_if_live(head: &PlayerHead, force: bool, cx: &Context<'_>) -> Result<(), AdminRefusal> {
    match head.held() {
        Some(lease) if !force && is_live(lease, cx) => Err(AdminRefusal::Held {
            player: head.player.clone(),
            holder: lease.holder.clone(),
            epoch: lease.epoch,
        }),
        _ => Ok(()),
    }
}

/// An admin write of `data` as a new generation (`import`, or `restore` of a snapshot's data).
/// Takes a new epoch and ends any lease, so the old holder's later upload is refused and kept
/// as a conflict, never stored over the admin's data.
pub(crate) fn admin_write(
    head: &PlayerHead,
    cause: Cause,
    data: &[u8],
    force: bool,
    cx: &Context<'_>,
) -> Result<(u64, PlayerHead, Change), AdminRefusal> {
    refuse_if_live(head, force, cx)?;
    let mut next = head.clone();
    let mut change = Change::default();
    next.epoch += 1;
    next.lease = None;
    let id = next.next_snapshot;
    let written = Written {
        server: ADMIN,
        epoch: next.epoch,
        cause,
        data,
    };
    store_generation(&mut next, &mut change, &written, cx.now, cx.settings);
    Ok((id, next, change))
}

/// An admin `release`: ends a dead or stuck hold (a live one only with `force`). The epoch is
/// kept, so a crash-recovery upload of the last holder is still accepted.
pub(crate) fn admin_release(
    head: &PlayerHead,
    force: bool,
    cx: &Context<'_>,
) -> Result<Option<PlayerHead>, AdminRefusal> {
    refuse_if_live(head, force, cx)?;
    Ok(head.held().map(|_| {
        let mut next = head.clone();
        next.lease.as_mut().expect("held").ended_at = Some(cx.now);
        next
    }))
}

/// Pins or unpins a snapshot. Unpinning may let it leave the history at the next write.
pub(crate) fn set_pinned(
    head: &PlayerHead,
    snapshot: u64,
    pinned: bool,
) -> Result<PlayerHead, AdminRefusal> {
    let mut next = head.clone();
    let s = next
        .history
        .iter_mut()
        .find(|s| s.id == snapshot)
        .ok_or(AdminRefusal::NoSnapshot {
            player: head.player.clone(),
            snapshot,
        })?;
    s.pinned = pinned;
    Ok(next)
}
