//! The sync messages of one game server, answered from the player store.
//!
//! Each player's messages are handled in the order the game sent them, by one worker task per
//! player; different players proceed in parallel. Store calls run on the blocking pool.
//! An upload that cannot be stored (the store unreachable, a damaged record) is retried with
//! backoff until it is stored, and the game is answered only then: it keeps the upload and
//! sends it again too, so nothing is dropped on either side. An `acquire` the store cannot
//! answer is answered `error` at once (the player may take a temporary inventory).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use invsync_codec::Capabilities;
use invsync_host::Link;
use invsync_sync::{
    Acquired, GameMessage, PlayerDelta, PlayerStore, StoreError, UploadOutcome, acquired_message,
    busy_message, error_message, is_sync_message, parse_game_message, player_data_message,
    upload_refused_message, uploaded_message,
};
use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Longest wait between two tries of a store write.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The player store once it could be opened (it may be unreachable when the host starts).
pub type StoreSlot = Arc<OnceLock<PlayerStore>>;

struct Shared {
    server: String,
    store: StoreSlot,
    link: watch::Receiver<Option<Link>>,
    /// Players this host acquired and has not yet seen uploaded or released, with when the
    /// acquire that granted (or renewed) the lease was sent: the store counts the lease's
    /// timeout from no earlier than that.
    held: Mutex<BTreeMap<String, Instant>>,
    /// Set when the host stops: workers give up their retries at this instant.
    give_up_at: watch::Receiver<Option<Instant>>,
    /// Messages given to workers and not yet handled.
    pending: AtomicUsize,
}

/// The sync service of one host.
pub struct Service {
    shared: Arc<Shared>,
    workers: HashMap<String, mpsc::UnboundedSender<GameMessage>>,
    tasks: JoinSet<()>,
}

impl Service {
    pub fn new(
        server: String,
        store: StoreSlot,
        link: watch::Receiver<Option<Link>>,
        give_up_at: watch::Receiver<Option<Instant>>,
    ) -> Service {
        Service {
            shared: Arc::new(Shared {
                server,
                store,
                link,
                held: Mutex::new(BTreeMap::new()),
                give_up_at,
                pending: AtomicUsize::new(0),
            }),
            workers: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Handles a message from the game: a sync message goes to its player's worker.
    pub fn on_message(&mut self, payload: &[u8]) {
        counter!("invsync_transfers_total", "direction" => "to_host").increment(1);
        counter!("invsync_bytes_total", "direction" => "to_host").increment(payload.len() as u64);
        if !is_sync_message(payload) {
            tracing::debug!(
                bytes = payload.len(),
                "a message from the game that is not for the sync"
            );
            return;
        }
        let msg = match parse_game_message(payload) {
            Ok(m) => m,
            Err(e) => {
                counter!("invsync_bad_messages_total").increment(1);
                tracing::warn!(server = %self.shared.server, "{e}");
                return;
            }
        };
        let player = msg.player().to_string();
        let sender = self.workers.entry(player.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            self.tasks.spawn(worker(self.shared.clone(), player, rx));
            tx
        });
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        // a worker ends only when its sender is dropped, so this cannot fail
        let _ = sender.send(msg);
    }

    /// Players this host holds (acquired, not yet uploaded or released).
    pub fn held(&self) -> usize {
        self.shared
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The players this host holds, in order, each with when the acquire that granted its
    /// lease was sent.
    pub fn held_players(&self) -> Vec<(String, Instant)> {
        self.shared
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, t)| (p.clone(), *t))
            .collect()
    }

    /// True when no player is held and no message waits: a stop loses nothing now.
    pub fn settled(&self) -> bool {
        self.held() == 0 && self.shared.pending.load(Ordering::SeqCst) == 0
    }

    /// Lets every worker finish what it was given (uploads are stored, or given up at the
    /// deadline set through `give_up_at`), then returns.
    pub async fn drain(mut self) {
        self.workers.clear();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn worker(shared: Arc<Shared>, player: String, mut rx: mpsc::UnboundedReceiver<GameMessage>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            GameMessage::Acquire {
                request,
                generation,
                unchanged,
                delta,
                ..
            } => {
                let asked = Asked {
                    request,
                    generation,
                    unchanged,
                    delta,
                };
                acquire(&shared, &player, asked).await
            }
            GameMessage::Upload {
                generation,
                upload,
                epoch,
                recovered,
                data,
                ..
            } => {
                let up = Upload {
                    generation,
                    upload,
                    epoch,
                    recovered,
                    data,
                };
                store_upload(&shared, &player, up).await
            }
            GameMessage::Release { request, epoch, .. } => {
                release(&shared, &player, request, epoch).await
            }
        }
        shared.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a store call on the blocking pool, timing it.
async fn call<T: Send + 'static>(
    shared: &Shared,
    op: &'static str,
    f: impl FnOnce(&PlayerStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let Some(players) = shared.store.get().cloned() else {
        return Err(StoreError::Unavailable(
            "the player store has not been reached yet".into(),
        ));
    };
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || f(&players))
        .await
        .unwrap_or_else(|e| Err(StoreError::Backend(format!("the store call failed: {e}"))));
    histogram!("invsync_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        counter!("invsync_store_errors_total", "op" => op).increment(1);
        tracing::warn!(server = %shared.server, op, "store: {e}");
    }
    result
}

/// Sends `payload` into the game if a game is connected; failures are logged (the game asks
/// again: it retries acquires on Retry, uploads with backoff).
async fn send(shared: &Shared, payload: Vec<u8>) -> Option<invsync_host::PendingSend> {
    let link = shared.link.borrow().clone();
    let Some(link) = link else {
        tracing::info!(server = %shared.server, "no game connected; an answer is dropped (the game asks again)");
        return None;
    };
    counter!("invsync_transfers_total", "direction" => "to_game").increment(1);
    counter!("invsync_bytes_total", "direction" => "to_game").increment(payload.len() as u64);
    match link.submit(payload).await {
        Ok(pending) => Some(pending),
        Err(e) => {
            tracing::warn!(server = %shared.server, "cannot send to the game: {e}");
            None
        }
    }
}

/// Sends and logs the outcome in the background.
async fn send_and_forget(shared: &Shared, payload: Vec<u8>) {
    if let Some(pending) = send(shared, payload).await {
        track(shared.server.clone(), pending);
    }
}

fn track(server: String, pending: invsync_host::PendingSend) {
    tokio::spawn(async move {
        if let Err(e) = pending.outcome().await {
            tracing::warn!(server, "a message to the game failed: {e}");
        }
    });
}

/// An acquire as the game sent it (`GameMessage::Acquire`).
struct Asked {
    request: u64,
    generation: u64,
    unchanged: bool,
    delta: bool,
}

async fn acquire(shared: &Shared, player: &str, asked: Asked) {
    counter!("invsync_joins_total").increment(1);
    let (server, p) = (shared.server.clone(), player.to_string());
    let sent = Instant::now();
    let Asked {
        request,
        generation: local,
        unchanged,
        delta: deltas,
    } = asked;
    let result = call(shared, "acquire", move |s| {
        s.acquire(&server, &p, request, local, unchanged, deltas)
    })
    .await;
    match result {
        Ok(Acquired::Busy { holder, since }) => {
            counter!("invsync_acquire_total", "outcome" => "busy").increment(1);
            tracing::info!(server = %shared.server, player, holder, "acquire: busy");
            send_and_forget(
                shared,
                busy_message(player, request, &holder, since).into_bytes(),
            )
            .await;
        }
        Ok(Acquired::Acquired {
            generation,
            epoch,
            data,
            delta,
        }) => {
            counter!("invsync_acquire_total", "outcome" => "acquired").increment(1);
            {
                let mut held = shared.held.lock().unwrap_or_else(|e| e.into_inner());
                held.insert(player.to_string(), sent);
                gauge!("invsync_leases_held").set(held.len() as f64);
            }
            let caps = shared.link.borrow().as_ref().and_then(Link::caps);
            let (payload, base) = data_payload(player, generation, data, delta, caps.as_ref());
            if payload.is_some() {
                let form = if base.is_some() { "delta" } else { "full" };
                counter!("invsync_data_sent_total", "form" => form).increment(1);
            }
            tracing::info!(
                server = %shared.server, player, generation, epoch, local, unchanged, deltas, ?base,
                bytes = payload.as_ref().map_or(0, Vec::len), "acquire: acquired"
            );
            let data_message = match payload {
                None => None,
                Some(payload) => {
                    match send(shared, payload).await {
                        None => return,
                        Some(mut pending) => {
                            let id = pending.id();
                            let wlen = pending.wire_len().await;
                            track(shared.server.clone(), pending);
                            match wlen {
                                Some(wlen) => Some((id, wlen as usize)),
                                // it failed before it was encoded: the game times out and retries
                                None => return,
                            }
                        }
                    }
                }
            };
            let answer = acquired_message(
                player,
                request,
                generation,
                epoch,
                generation > 0,
                data_message,
                base,
            );
            send_and_forget(shared, answer.into_bytes()).await;
        }
        Err(e) => {
            counter!("invsync_acquire_total", "outcome" => "error").increment(1);
            let text = match e {
                StoreError::Unavailable(_) => {
                    "the inventory store cannot be reached; try again later".to_string()
                }
                other => format!("the inventory store failed: {other}"),
            };
            send_and_forget(shared, error_message(player, request, &text).into_bytes()).await;
        }
    }
}

/// The message that carries an `acquired`'s data to the game, and the base generation the
/// `acquired` names: the store's `player_delta` when it made one, else the full data.
fn data_payload(
    player: &str,
    generation: u64,
    data: Option<Vec<u8>>,
    delta: Option<PlayerDelta>,
    caps: Option<&Capabilities>,
) -> (Option<Vec<u8>>, Option<u64>) {
    match (data, delta) {
        (None, _) => (None, None),
        // sent as the store wrote it, without for_game's xj: the game proves the result against
        // the stored checksum, which an export rebuilt from its JSON need not match byte for
        // byte (PROTOCOL.md 4.1); and only changed stacks are in it
        (Some(_), Some(delta)) => (Some(delta.message), Some(delta.base)),
        (Some(data), None) => {
            let data = invsync_host::for_game(caps, data);
            (Some(player_data_message(player, generation, &data)), None)
        }
    }
}

/// Waits before try `attempt` + 1; false when the host is stopping and its deadline passed.
async fn backoff(shared: &Shared, attempt: u32) -> bool {
    let wait = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(7))).min(MAX_BACKOFF);
    let mut give_up = shared.give_up_at.clone();
    loop {
        let deadline = *give_up.borrow_and_update();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let sleep = match deadline {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => return true,
            changed = give_up.changed() => if changed.is_err() { return true },
        }
    }
}

/// An upload of one player as the game sent it (`GameMessage::Upload`).
struct Upload {
    generation: u64,
    upload: u64,
    epoch: u64,
    recovered: bool,
    data: Vec<u8>,
}

async fn store_upload(shared: &Shared, player: &str, up: Upload) {
    let Upload {
        generation,
        upload,
        epoch,
        recovered,
        data,
    } = up;
    let data = Arc::new(data);
    let mut attempt = 0;
    loop {
        let (server, p, d) = (shared.server.clone(), player.to_string(), data.clone());
        let result = call(shared, "upload", move |s| {
            s.upload(&server, &p, generation, epoch, recovered, &d)
        })
        .await;
        match result {
            Ok(outcome) => {
                let answer = match &outcome {
                    UploadOutcome::Stored { snapshot } | UploadOutcome::Repeat { snapshot } => {
                        let kind = if matches!(outcome, UploadOutcome::Stored { .. }) {
                            "stored"
                        } else {
                            "repeat"
                        };
                        counter!("invsync_uploads_total", "result" => kind).increment(1);
                        tracing::info!(server = %shared.server, player, generation, epoch, snapshot, bytes = data.len(), "upload {kind}");
                        let mut held = shared.held.lock().unwrap_or_else(|e| e.into_inner());
                        held.remove(player);
                        gauge!("invsync_leases_held").set(held.len() as f64);
                        uploaded_message(player, generation, upload)
                    }
                    UploadOutcome::Refused { reason, conflict } => {
                        counter!("invsync_uploads_total", "result" => "refused").increment(1);
                        tracing::warn!(server = %shared.server, player, generation, epoch, conflict, "upload refused: {reason}; kept as conflict snapshot {conflict}");
                        upload_refused_message(player, generation, upload, reason)
                    }
                };
                send_and_forget(shared, answer.into_bytes()).await;
                return;
            }
            Err(StoreError::Invalid(e)) => {
                // cannot become storable by trying again; the game keeps it and retries
                tracing::error!(server = %shared.server, player, generation, "upload cannot be stored: {e}");
                return;
            }
            Err(_) => {
                counter!("invsync_upload_retries_total").increment(1);
                attempt += 1;
                if !backoff(shared, attempt).await {
                    tracing::error!(
                        server = %shared.server, player, generation, epoch,
                        "stopping with upload {upload} not stored: the game keeps it and sends it again when it runs"
                    );
                    return;
                }
            }
        }
    }
}

async fn release(shared: &Shared, player: &str, request: u64, epoch: Option<u64>) {
    let mut attempt = 0;
    loop {
        let (server, p) = (shared.server.clone(), player.to_string());
        match call(shared, "release", move |s| {
            s.release(&server, &p, request, epoch)
        })
        .await
        {
            Ok(ended) => {
                tracing::info!(server = %shared.server, player, request, ?epoch, ended, "release");
                let mut held = shared.held.lock().unwrap_or_else(|e| e.into_inner());
                held.remove(player);
                gauge!("invsync_leases_held").set(held.len() as f64);
                return;
            }
            Err(StoreError::Invalid(_)) => return,
            Err(_) => {
                attempt += 1;
                if !backoff(shared, attempt).await {
                    tracing::error!(server = %shared.server, player, "stopping with a release not stored: the lease expires after the timeout");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use invsync_player_data::{PlayerData, SampleKind, generate};
    use invsync_sync::{MemoryStore, Settings, UploadOutcome};

    use super::*;

    /// Uploads `versions` of `player` from two servers in turn, then acquires from the first
    /// as a game holding the first version unchanged that applies deltas.
    fn returning(player: &str, versions: &[Vec<u8>]) -> (Option<Vec<u8>>, Option<PlayerDelta>) {
        let players = PlayerStore::new(Arc::new(MemoryStore::new()), Settings::default());
        for (k, data) in versions.iter().enumerate() {
            let server = ["north", "south"][k % 2];
            let Ok(Acquired::Acquired {
                generation, epoch, ..
            }) = players.acquire(server, player, 1, 0, false, false)
            else {
                panic!("acquire")
            };
            let stored = players.upload(server, player, generation + 1, epoch, false, data);
            assert!(
                matches!(stored, Ok(UploadOutcome::Stored { .. })),
                "{stored:?}"
            );
        }
        match players.acquire("north", player, 2, 1, true, true) {
            Ok(Acquired::Acquired { data, delta, .. }) => (data, delta),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delta_goes_as_the_store_wrote_it_and_full_data_through_for_game() {
        // bp with one blueprint's export replaced by another's: the delta holds that stack
        let one = generate(SampleKind::Bp, 1);
        let mut p = PlayerData::from_json(&one).unwrap();
        let exports: Vec<usize> = (0..p.inventories.main.len())
            .filter(|k| p.inventories.main[*k].export.is_some())
            .collect();
        let other = p.inventories.main[exports[1]].export.clone();
        p.inventories.main[exports[0]].export = other;
        let two = p.to_json().into_bytes();
        let (data, delta) = returning(&p.name, &[one, two.clone()]);
        let delta = delta.expect("a delta");
        let mut caps = Capabilities::all(8192);
        caps.export_json = true;
        let (payload, base) =
            data_payload(&p.name, 2, data.clone(), Some(delta.clone()), Some(&caps));
        assert_eq!((payload.as_ref(), base), (Some(&delta.message), Some(1)));
        let text = String::from_utf8(delta.message).unwrap();
        assert!(text.contains(r#""x":"0"#) && !text.contains(r#""xj":"#));
        // the full data, to a game that reads xj, has its exports as JSON
        let (payload, base) = data_payload(&p.name, 2, data, None, Some(&caps));
        let payload = payload.expect("the data");
        assert!(payload.starts_with(br#"{"type":"player_data","#) && base.is_none());
        assert!(String::from_utf8(payload).unwrap().contains(r#""xj":"#));
        // nothing to send: no message, no base
        assert_eq!(
            data_payload(&p.name, 2, None, None, Some(&caps)),
            (None, None)
        );
    }
}
