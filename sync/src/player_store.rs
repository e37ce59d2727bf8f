//! [`PlayerStore`]: the rules of [`crate::decide`] applied to a [`Store`], one compare-and-set
//! at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use invsync_player_data::{PlayerData, diff};

use crate::decide::{
    self, AcquireOutcome, AcquireRequest, AdminRefusal, Context, UploadOutcome, UploadRequest,
};
use crate::message::{player_data_message, player_delta_message};
use crate::record::{
    Cause, Millis, PlayerHead, SnapshotMeta, decode_blob, decode_head, encode_blob, encode_head,
};
use crate::settings::Settings;
use crate::store::{Commit, Heartbeat, Store, StoreError};

/// How many times one operation decides again after losing a compare-and-set.
const MAX_ATTEMPTS: usize = 64;
/// Longest player name accepted (Factorio's are far shorter).
pub const MAX_PLAYER_NAME: usize = 128;
/// Longest server id accepted.
pub const MAX_SERVER_ID: usize = 128;

/// Where the cluster's time comes from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The store's own clock (Redis `TIME`; the SQLite machine's clock). The default.
    #[default]
    Store,
    /// A clock the caller moves (simulated time in tests).
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock at `start` and the handle that moves it.
    pub fn manual(start: Millis) -> (Clock, Arc<AtomicU64>) {
        let at = Arc::new(AtomicU64::new(start));
        (Clock::Manual(at.clone()), at)
    }
}

/// The answer to an acquire, with the data the game needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// The server holds the player now.
    Acquired {
        /// The stored generation (0: nothing stored).
        generation: u64,
        /// The lease epoch to send back with upload and release.
        epoch: u64,
        /// The stored PLAYER_DATA JSON to send to the game, or `None` to keep the local copy.
        data: Option<Vec<u8>>,
        /// The same data as a `player_delta` against the game's local copy, to send instead of
        /// `data` (only when the game asked for deltas and the delta is the smaller message).
        delta: Option<PlayerDelta>,
    },
    /// Another server holds the player.
    Busy {
        /// That server.
        holder: String,
        /// Since when (cluster time).
        since: Millis,
    },
}

/// The stored data as a `player_delta` message against the game's local copy (PROTOCOL.md
/// section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerDelta {
    /// The generation of the game's copy it applies to (`base` of `acquired`).
    pub base: u64,
    /// The `player_delta` message, ready to send.
    pub message: Vec<u8>,
}

/// A failed admin operation: refused by the rules, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The rules refuse it (a live lease, an unknown snapshot).
    #[error(transparent)]
    Refused(#[from] AdminRefusal),
    /// The store failed, or the request is invalid.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A player's record as the admin tool shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerView {
    /// The head.
    pub head: PlayerHead,
    /// Whether the lease (if held) is live now.
    pub live: bool,
    /// The cluster time the view was taken at.
    pub now: Millis,
}

/// The host half of the player sync over one store. Cheap to clone; share it between tasks.
pub struct PlayerStore {
    store: Arc<dyn Store>,
    settings: Settings,
    clock: Clock,
}

impl Clone for PlayerStore {
    fn clone(&self) -> PlayerStore {
        PlayerStore {
            store: self.store.clone(),
            settings: self.settings.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl std::fmt::Debug for PlayerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayerStore")
            .field("store", &self.store.describe())
            .field("settings", &self.settings)
            .finish()
    }
}

fn check_name(kind: &str, name: &str, max: usize) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Invalid(format!("{kind} name is empty")));
    }
    if name.len() > max {
        return Err(StoreError::Invalid(format!(
            "{kind} name is {} bytes long, over the limit of {max}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "{kind} name {name:?} contains a control character"
        )));
    }
    Ok(())
}

impl PlayerStore {
    /// The sync over `store` with the cluster's `settings`, on the store's clock.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> PlayerStore {
        PlayerStore {
            store,
            settings,
            clock: Clock::Store,
        }
    }

    /// The same, on another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> PlayerStore {
        self.clock = clock;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The cluster's time.
    pub fn now(&self) -> Result<Millis, StoreError> {
        match &self.clock {
            Clock::Store => self.store.now(),
            Clock::Manual(at) => Ok(at.load(Ordering::SeqCst)),
        }
    }

    fn load(&self, player: &str) -> Result<(Option<u64>, PlayerHead), StoreError> {
        match self.store.load(player)? {
            None => Ok((None, PlayerHead::new(player))),
            Some(stored) => Ok((Some(stored.revision), decode_head(player, &stored.bytes)?)),
        }
    }

    /// What a decision about `head`'s hold judges by at `now`.
    fn context(&self, head: &PlayerHead, now: Millis) -> Result<Context<'_>, StoreError> {
        let holder_heartbeat = match head.held() {
            Some(lease) => self.store.heartbeat_of(&lease.holder)?,
            None => None,
        };
        Ok(Context {
            now,
            holder_heartbeat,
            settings: &self.settings,
        })
    }

    /// Writes `next` (and the change's blobs) over the head at `revision`.
    fn commit(
        &self,
        player: &str,
        revision: Option<u64>,
        next: &PlayerHead,
        change: &decide::Change,
    ) -> Result<bool, StoreError> {
        let commit = Commit {
            head: encode_head(next),
            put: change
                .put
                .iter()
                .map(|(id, json)| (*id, encode_blob(json)))
                .collect(),
            delete: change.delete.clone(),
        };
        self.store.commit(player, revision, &commit)
    }

    /// Reads and checks a snapshot's data.
    fn data(&self, player: &str, meta: &SnapshotMeta) -> Result<Vec<u8>, StoreError> {
        let blob = self.store.blob(player, meta.id)?.ok_or_else(|| {
            crate::record::RecordError::CorruptSnapshot {
                player: player.to_string(),
                snapshot: meta.id,
                problem: "its data is missing".into(),
            }
        })?;
        Ok(decode_blob(
            player,
            meta,
            &blob,
            self.settings.max_data_bytes,
        )?)
    }

    fn snapshot_data(&self, head: &PlayerHead, id: u64) -> Result<Vec<u8>, AdminError> {
        let meta = head.snapshot(id).ok_or(AdminRefusal::NoSnapshot {
            player: head.player.clone(),
            snapshot: id,
        })?;
        Ok(self.data(&head.player, meta)?)
    }

    /// Runs `step` (decide over the current head) until its write wins or it writes nothing.
    fn run<T, E: From<StoreError>>(
        &self,
        player: &str,
        mut step: impl FnMut(
            &PlayerHead,
            Millis,
        ) -> Result<(T, Option<(PlayerHead, decide::Change)>), E>,
    ) -> Result<T, E> {
        check_name("player", player, MAX_PLAYER_NAME)?;
        for _ in 0..MAX_ATTEMPTS {
            let (revision, head) = self.load(player)?;
            let now = self.now()?;
            let (answer, write) = step(&head, now)?;
            match write {
                None => return Ok(answer),
                Some((next, change)) => {
                    if self.commit(player, revision, &next, &change)? {
                        return Ok(answer);
                    }
                }
            }
            tracing::debug!(player, "compare-and-set lost; deciding again");
        }
        Err(StoreError::Contention(player.to_string()).into())
    }

    /// A game asks for exclusive access to `player` for `server`. `delta`: the game applies
    /// a `player_delta` against its local copy of `local_generation` (docs/SYNC.md, acquire).
    pub fn acquire(
        &self,
        server: &str,
        player: &str,
        request: u64,
        local_generation: u64,
        unchanged: bool,
        delta: bool,
    ) -> Result<Acquired, StoreError> {
        check_name("server", server, MAX_SERVER_ID)?;
        // the data of a snapshot never changes: read once per snapshot id, before granting, so
        // that a damaged record is reported and never granted with
        let mut read: Option<(u64, Vec<u8>)> = None;
        let (mut answer, snapshots) = self.run(player, |head, now| {
            let asked = AcquireRequest {
                server,
                request,
                local_generation,
                unchanged,
                delta,
            };
            let (outcome, next) = decide::acquire(head, &asked, &self.context(head, now)?);
            let mut snapshots = None;
            let answer = match outcome {
                AcquireOutcome::Busy { holder, since } => Acquired::Busy { holder, since },
                AcquireOutcome::Acquired {
                    generation,
                    epoch,
                    send,
                    base,
                } => {
                    let data = match send {
                        None => None,
                        Some(id) => {
                            let meta = head.snapshot(id).expect("checked head");
                            if read.as_ref().is_none_or(|(r, _)| *r != id) {
                                read = Some((id, self.data(player, meta)?));
                            }
                            if let Some(base) = base.and_then(|b| head.snapshot(b)) {
                                snapshots = Some((base.clone(), meta.clone()));
                            }
                            read.as_ref().map(|(_, d)| d.clone())
                        }
                    };
                    Acquired::Acquired {
                        generation,
                        epoch,
                        data,
                        delta: None,
                    }
                }
            };
            let write = next.map(|n| (n, decide::Change::default()));
            Ok::<_, StoreError>(((answer, snapshots), write))
        })?;
        if let (
            Acquired::Acquired {
                generation,
                data: Some(data),
                delta,
                ..
            },
            Some((base, current)),
        ) = (&mut answer, snapshots)
        {
            *delta = self.delta(player, *generation, &base, &current, data);
        }
        Ok(answer)
    }

    /// The `player_delta` message of `data` (the snapshot `current`, generation `generation`)
    /// against the snapshot `base`, when it is smaller than the `player_data` message and a
    /// game writes it in place (`Delta::not_in_place`). Read
    /// after the grant: a base that cannot be read or parsed is logged, and the full data sent.
    fn delta(
        &self,
        player: &str,
        generation: u64,
        base: &SnapshotMeta,
        current: &SnapshotMeta,
        data: &[u8],
    ) -> Option<PlayerDelta> {
        let parse = |bytes: &[u8]| {
            PlayerData::from_json(bytes).map_err(|e| format!("not PLAYER_DATA: {e}"))
        };
        let both = self
            .data(player, base)
            .map_err(|e| e.to_string())
            .and_then(|old| Ok((parse(&old)?, parse(data)?)));
        let (old, new) = match both {
            Ok(both) => both,
            Err(e) => {
                tracing::warn!(
                    player,
                    base = base.id,
                    current = current.id,
                    "no delta between these snapshots; the full data is sent: {e}"
                );
                return None;
            }
        };
        let delta = diff(&old, &new);
        if let Some(why) = delta.not_in_place(&old) {
            tracing::debug!(
                player,
                base = base.id,
                "no delta ({why}): the full data is sent"
            );
            return None;
        }
        let message = player_delta_message(
            player,
            generation,
            base.generation,
            current.checksum,
            current.size,
            &delta,
        );
        // the player_data message is the data with the same few members around it
        let full = player_data_message(player, generation, b"").len() + data.len();
        (message.len() < full).then_some(PlayerDelta {
            base: base.generation,
            message,
        })
    }

    /// A game uploads `player` as it left `server`.
    pub fn upload(
        &self,
        server: &str,
        player: &str,
        generation: u64,
        epoch: u64,
        recovered: bool,
        data: &[u8],
    ) -> Result<UploadOutcome, StoreError> {
        check_name("server", server, MAX_SERVER_ID)?;
        if data.len() > self.settings.max_data_bytes {
            return Err(StoreError::Invalid(format!(
                "player {player:?}: upload of {} bytes is over the limit of {}",
                data.len(),
                self.settings.max_data_bytes
            )));
        }
        let request = UploadRequest {
            server,
            generation,
            epoch,
            recovered,
            data,
        };
        self.run(player, |head, now| {
            Ok::<_, StoreError>(decide::upload(head, &request, now, &self.settings))
        })
    }

    /// A game gives up `server`'s hold on `player` (the grant of `epoch`, or if the game did
    /// not learn it, of its acquire `request`). Returns whether a hold ended.
    pub fn release(
        &self,
        server: &str,
        player: &str,
        request: u64,
        epoch: Option<u64>,
    ) -> Result<bool, StoreError> {
        check_name("server", server, MAX_SERVER_ID)?;
        self.run(player, |head, now| {
            let next = decide::release(head, server, request, epoch, now);
            Ok::<_, StoreError>((next.is_some(), next.map(|n| (n, decide::Change::default()))))
        })
    }

    /// Records that `server` is alive; returns the cluster time recorded.
    pub fn heartbeat(&self, server: &str) -> Result<Millis, StoreError> {
        check_name("server", server, MAX_SERVER_ID)?;
        let now = self.now()?;
        self.store.heartbeat(server, now)?;
        Ok(now)
    }

    // Admin ------------------------------------------------------------------------------

    /// Every player with a record.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        self.store.players()
    }

    /// One player's record (an unknown player is an error).
    pub fn show(&self, player: &str) -> Result<PlayerView, StoreError> {
        check_name("player", player, MAX_PLAYER_NAME)?;
        let (revision, head) = self.load(player)?;
        if revision.is_none() {
            return Err(StoreError::Invalid(format!(
                "no player {player:?} in the store"
            )));
        }
        let now = self.now()?;
        let cx = self.context(&head, now)?;
        let live = head.held().is_some_and(|l| decide::is_live(l, &cx));
        Ok(PlayerView { head, live, now })
    }

    /// A snapshot's PLAYER_DATA JSON (the current generation's when `snapshot` is `None`).
    pub fn export(&self, player: &str, snapshot: Option<u64>) -> Result<Vec<u8>, AdminError> {
        let view = self.show(player)?;
        let id = match snapshot.or(view.head.current) {
            Some(id) => id,
            None => {
                return Err(StoreError::Invalid(format!(
                    "player {player:?} has no stored generation"
                ))
                .into());
            }
        };
        self.snapshot_data(&view.head, id)
    }

    /// Stores `data` as the player's next generation (an admin import). Refused while a live
    /// lease is held unless `force`, which ends it.
    pub fn import(&self, player: &str, data: &[u8], force: bool) -> Result<u64, AdminError> {
        self.admin_write(player, Cause::AdminImport, force, |_| Ok(data.to_vec()))
    }

    /// Stores an older snapshot's data as the player's next generation.
    pub fn restore(&self, player: &str, snapshot: u64, force: bool) -> Result<u64, AdminError> {
        if self.store.load(player)?.is_none() {
            return Err(StoreError::Invalid(format!("no player {player:?} in the store")).into());
        }
        self.admin_write(player, Cause::Restore, force, |head| {
            self.snapshot_data(head, snapshot)
        })
    }

    fn admin_write(
        &self,
        player: &str,
        cause: Cause,
        force: bool,
        data: impl Fn(&PlayerHead) -> Result<Vec<u8>, AdminError>,
    ) -> Result<u64, AdminError> {
        self.run(player, |head, now| {
            let json = data(head)?;
            if json.len() > self.settings.max_data_bytes {
                return Err(StoreError::Invalid(format!(
                    "{} bytes of player data is over the limit of {}",
                    json.len(),
                    self.settings.max_data_bytes
                ))
                .into());
            }
            let cx = self.context(head, now)?;
            let (id, next, change) = decide::admin_write(head, cause, &json, force, &cx)?;
            Ok((id, Some((next, change))))
        })
    }

    /// Ends a player's hold (dead or stuck; a live one only with `force`). Returns whether a
    /// hold ended.
    pub fn admin_release(&self, player: &str, force: bool) -> Result<bool, AdminError> {
        self.show(player)?;
        self.run(player, |head, now| {
            let next = decide::admin_release(head, force, &self.context(head, now)?)?;
            Ok::<_, AdminError>((next.is_some(), next.map(|n| (n, decide::Change::default()))))
        })
    }

    /// Pins or unpins a snapshot.
    pub fn set_pinned(&self, player: &str, snapshot: u64, pinned: bool) -> Result<(), AdminError> {
        self.show(player)?;
        self.run(player, |head, _| {
            let next = decide::set_pinned(head, snapshot, pinned)?;
            Ok::<_, AdminError>(((), Some((next, decide::Change::default()))))
        })
    }

    /// Every server's heartbeat and the players whose live or held leases it has.
    pub fn servers(&self) -> Result<Vec<(Heartbeat, Vec<String>)>, StoreError> {
        let mut out: Vec<(Heartbeat, Vec<String>)> = self
            .store
            .heartbeats()?
            .into_iter()
            .map(|h| (h, Vec::new()))
            .collect();
        for player in self.store.players()? {
            let (_, head) = self.load(&player)?;
            if let Some(lease) = head.held() {
                match out.iter_mut().find(|(h, _)| h.server == lease.holder) {
                    Some((_, held)) => held.push(player),
                    None => out.push((
                        Heartbeat {
                            server: lease.holder.clone(),
                            at: 0,
                        },
                        vec![player],
                    )),
                }
            }
        }
        out.sort_by(|a, b| a.0.server.cmp(&b.0.server));
        Ok(out)
    }
}
