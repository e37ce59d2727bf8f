//! One conformance suite, run against the three stores: in memory, a SQLite file, a real Redis.
//!
//! Every case is written once, as a function over a [`Backend`]; the `suite!` macro makes a
//! test of each case for each store (`memory::acquire_busy_and_repeat`,
//! `sqlite::acquire_busy_and_repeat`, `redis::...`). Time is a manual clock, so expiry is
//! exact and nothing waits. The anchors' bugs (issue 11) are cases here too, named after what
//! they reproduce, so they hold on every store.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

use invsync_player_data::{Delta, PlayerData, SampleKind, apply, generate};
use invsync_sync::{
    Acquired, AdminError, AdminRefusal, Cause, PlayerDelta, PlayerStore, RecordError, Settings,
    StoreError, UploadOutcome, player_data_message,
};
use support::{Backend, T0, on_manual_clock, player_data};

const TIMEOUT: u64 = 30_000;

fn sync(b: &dyn Backend) -> (PlayerStore, Arc<std::sync::atomic::AtomicU64>) {
    on_manual_clock(b.store(), Settings::default())
}

/// Acquires and expects a grant; returns (generation, epoch, data).
#[track_caller]
fn grant(s: &PlayerStore, server: &str, player: &str) -> (u64, u64, Option<Vec<u8>>) {
    match s
        .acquire(server, player, 1, 0, false, false)
        .expect("acquire")
    {
        Acquired::Acquired {
            generation,
            epoch,
            data,
            ..
        } => (generation, epoch, data),
        busy => panic!("{server} did not get {player}: {busy:?}"),
    }
}

#[track_caller]
fn busy(s: &PlayerStore, server: &str, player: &str) -> String {
    match s
        .acquire(server, player, 1, 0, false, false)
        .expect("acquire")
    {
        Acquired::Busy { holder, .. } => holder,
        granted => panic!("{server} got {player} although it is held: {granted:?}"),
    }
}

#[track_caller]
fn stored(out: UploadOutcome) -> u64 {
    match out {
        UploadOutcome::Stored { snapshot } => snapshot,
        other => panic!("upload not stored: {other:?}"),
    }
}

#[track_caller]
fn refused(out: UploadOutcome) -> u64 {
    match out {
        UploadOutcome::Refused { conflict, .. } => conflict,
        other => panic!("upload not refused: {other:?}"),
    }
}

/// Acquires as a game holding generation `local` (`unchanged` as said) and applying deltas when
/// `delta`; returns the full data and the delta the store answers with.
#[track_caller]
fn rejoin(
    s: &PlayerStore,
    server: &str,
    player: &str,
    local: u64,
    unchanged: bool,
    delta: bool,
) -> (Option<Vec<u8>>, Option<PlayerDelta>) {
    match s
        .acquire(server, player, 7, local, unchanged, delta)
        .expect("acquire")
    {
        Acquired::Acquired { data, delta, .. } => (data, delta),
        busy => panic!("{server} did not get {player}: {busy:?}"),
    }
}

/// Checks a `player_delta` of generation `generation` against generation `base_generation`
/// (whose data is `base`): its members, and that it applied to the base is `data` as a model,
/// whose checksum and length it carries; returns the message's length.
#[track_caller]
fn check_delta(
    player: &str,
    delta: &PlayerDelta,
    (base_generation, base): (u64, &[u8]),
    (generation, data): (u64, &[u8]),
) -> usize {
    assert_eq!(delta.base, base_generation);
    let m: serde_json::Value = serde_json::from_slice(&delta.message).expect("JSON");
    assert!(delta.message.starts_with(br#"{"type":"player_delta","#));
    assert_eq!(m["player"], player);
    assert_eq!(
        (m["generation"].as_u64(), m["base"].as_u64()),
        (Some(generation), Some(base_generation))
    );
    assert_eq!(m["checksum"], format!("{:08x}", crc32fast::hash(data)));
    assert_eq!(m["length"].as_u64(), Some(data.len() as u64));
    let parsed = Delta::from_json(&delta.message).expect("a delta");
    let base = PlayerData::from_json(base).unwrap();
    assert_eq!(
        apply(&base, &parsed).unwrap(),
        PlayerData::from_json(data).unwrap()
    );
    let full = player_data_message(player, generation, data).len();
    assert!(
        delta.message.len() < full,
        "{} >= {full}",
        delta.message.len()
    );
    delta.message.len()
}

/// One whole sync cycle of `server`: acquire, upload `data` as the next generation.
#[track_caller]
fn cycle(s: &PlayerStore, server: &str, player: &str, data: &[u8]) -> u64 {
    let (generation, epoch, _) = grant(s, server, player);
    stored(
        s.upload(server, player, generation + 1, epoch, false, data)
            .expect("upload"),
    )
}

mod cases {
    use super::*;

    pub fn acquire_busy_and_repeat(b: &dyn Backend) {
        let (s, _) = sync(b);
        assert_eq!(
            s.acquire("north", "alice", 1, 0, false, false).unwrap(),
            Acquired::Acquired {
                generation: 0,
                epoch: 1,
                data: None,
                delta: None
            }
        );
        assert_eq!(
            s.acquire("south", "alice", 1, 0, false, false).unwrap(),
            Acquired::Busy {
                holder: "north".into(),
                since: T0
            }
        );
        // the holder asking again keeps its grant (same epoch)
        assert_eq!(grant(&s, "north", "alice").1, 1);
        let view = s.show("alice").unwrap();
        assert!(view.live);
        let lease = view.head.held().expect("held");
        assert_eq!((lease.holder.as_str(), lease.epoch), ("north", 1));
        assert_eq!(s.list().unwrap(), vec!["alice".to_string()]);
        // another player is independent
        assert_eq!(grant(&s, "south", "bob").1, 1);
    }

    pub fn lease_expires_when_the_holder_stops_heartbeating(b: &dyn Backend) {
        let (s, clock) = sync(b);
        let (_, e1, _) = grant(&s, "north", "alice");
        // alive while it heartbeats, however long it holds the player
        for _ in 0..5 {
            clock.fetch_add(TIMEOUT - 1, Ordering::SeqCst);
            assert_eq!(busy(&s, "south", "alice"), "north");
            s.heartbeat("north").unwrap();
        }
        // then it dies: live until exactly one timeout after its last heartbeat
        let last = s.heartbeat("north").unwrap();
        clock.store(last + TIMEOUT - 1, Ordering::SeqCst);
        assert_eq!(busy(&s, "south", "alice"), "north");
        assert!(s.show("alice").unwrap().live);
        clock.store(last + TIMEOUT, Ordering::SeqCst);
        assert!(!s.show("alice").unwrap().live);
        let (_, e2, _) = grant(&s, "south", "alice");
        assert!(e2 > e1, "a takeover takes a higher epoch ({e2} after {e1})");
        let servers = s.servers().unwrap();
        let south = servers.iter().find(|(h, _)| h.server == "south").unwrap();
        assert_eq!(south.1, vec!["alice".to_string()]);
        let north = servers.iter().find(|(h, _)| h.server == "north").unwrap();
        assert_eq!(north.0.at, last);
        assert!(north.1.is_empty());
    }

    pub fn upload_is_stored_and_a_repeat_is_idempotent(b: &dyn Backend) {
        let (s, clock) = sync(b);
        let data = player_data("alice", 1);
        let (g, e, _) = grant(&s, "north", "alice");
        let id = stored(s.upload("north", "alice", g + 1, e, false, &data).unwrap());
        clock.fetch_add(5, Ordering::SeqCst);
        // the game did not hear the answer and sends it again
        assert_eq!(
            s.upload("north", "alice", g + 1, e, false, &data).unwrap(),
            UploadOutcome::Repeat { snapshot: id }
        );
        let view = s.show("alice").unwrap();
        assert_eq!(view.head.generation, 1);
        assert_eq!(view.head.current, Some(id));
        assert!(view.head.held().is_none(), "an upload ends the hold");
        assert!(!view.live);
        assert_eq!(view.head.history.len(), 1);
        let snap = &view.head.history[0];
        assert_eq!(
            (snap.cause, snap.epoch, snap.server.as_str()),
            (Cause::Upload, e, "north")
        );
        assert_eq!(snap.size, data.len() as u64);
        assert_eq!(s.export("alice", None).unwrap(), data);
        // the next server gets the data; the one that uploaded it, unchanged, does not need it
        assert_eq!(
            s.acquire("south", "alice", 1, 0, false, false).unwrap(),
            Acquired::Acquired {
                generation: 1,
                epoch: e + 1,
                data: Some(data.clone()),
                delta: None
            }
        );
        s.release("south", "alice", 0, Some(e + 1)).unwrap();
        assert_eq!(
            s.acquire("north", "alice", 1, 1, true, false).unwrap(),
            Acquired::Acquired {
                generation: 1,
                epoch: e + 2,
                data: None,
                delta: None
            }
        );
        // a crash-recovery upload is stored with its cause
        let id2 = stored(
            s.upload("north", "alice", 2, e + 2, true, &player_data("alice", 2))
                .unwrap(),
        );
        let head = s.show("alice").unwrap().head;
        assert_eq!(head.snapshot(id2).unwrap().cause, Cause::CrashRecovery);
    }

    pub fn refused_uploads_are_kept_as_pinned_conflicts(b: &dyn Backend) {
        let (s, _) = sync(b);
        let first = player_data("alice", 1);
        cycle(&s, "north", "alice", &first);
        let (g, e, _) = grant(&s, "north", "alice");
        assert_eq!(g, 1);
        let wrong: Vec<(&str, u64, u64, Vec<u8>)> = vec![
            ("north", g + 2, e, player_data("alice", 10)), // skips a generation
            ("north", g, e, player_data("alice", 11)),     // not + 1
            ("north", g + 1, e - 1, player_data("alice", 12)), // an old epoch
            ("north", g + 1, e + 1, player_data("alice", 13)), // a future epoch
            ("south", g + 1, e, player_data("alice", 14)), // another server's epoch
        ];
        let mut conflicts = Vec::new();
        for (server, generation, epoch, data) in &wrong {
            let id = refused(
                s.upload(server, "alice", *generation, *epoch, false, data)
                    .unwrap(),
            );
            // refused again: the same conflict, kept once
            assert_eq!(
                refused(
                    s.upload(server, "alice", *generation, *epoch, false, data)
                        .unwrap()
                ),
                id
            );
            conflicts.push(id);
        }
        let view = s.show("alice").unwrap();
        assert_eq!(view.head.generation, 1, "nothing refused was stored");
        assert_eq!(s.export("alice", None).unwrap(), first);
        let lease = view.head.held().expect("a refusal does not end the hold");
        assert_eq!((lease.holder.as_str(), lease.epoch), ("north", e));
        for (id, (server, generation, epoch, data)) in conflicts.iter().zip(&wrong) {
            let meta = view.head.snapshot(*id).expect("conflict in the history");
            assert_eq!(meta.cause, Cause::Conflict);
            assert!(meta.pinned);
            assert!(meta.reason.as_deref().is_some_and(|r| !r.is_empty()));
            assert_eq!(
                (meta.server.as_str(), meta.generation, meta.epoch),
                (*server, *generation, *epoch)
            );
            assert_eq!(&s.export("alice", Some(*id)).unwrap(), data);
        }
        // the holder's right upload is still stored
        let data = player_data("alice", 2);
        let id = stored(s.upload("north", "alice", g + 1, e, false, &data).unwrap());
        assert_eq!(s.export("alice", None).unwrap(), data);
        assert_eq!(s.show("alice").unwrap().head.current, Some(id));
        // one grant stores one generation: a second upload under it is a conflict
        refused(
            s.upload("north", "alice", g + 2, e, false, &player_data("alice", 3))
                .unwrap(),
        );
    }

    pub fn release_needs_the_current_epoch_and_holder(b: &dyn Backend) {
        let (s, clock) = sync(b);
        let (_, e1, _) = grant(&s, "north", "alice");
        assert!(
            !s.release("south", "alice", 0, Some(e1)).unwrap(),
            "not south's hold"
        );
        assert!(
            !s.release("north", "alice", 0, Some(e1 + 1)).unwrap(),
            "not that epoch"
        );
        assert!(
            !s.release("north", "alice", 0, Some(e1 - 1)).unwrap(),
            "not that epoch"
        );
        assert!(
            !s.release("north", "nobody", 0, Some(e1)).unwrap(),
            "no such hold"
        );
        assert_eq!(busy(&s, "south", "alice"), "north");
        assert!(s.release("north", "alice", 0, Some(e1)).unwrap());
        assert!(
            !s.release("north", "alice", 0, Some(e1)).unwrap(),
            "already released"
        );
        let (_, e2, _) = grant(&s, "south", "alice");
        // the old holder's late release ends nothing
        clock.fetch_add(1, Ordering::SeqCst);
        assert!(!s.release("north", "alice", 0, Some(e1)).unwrap());
        let view = s.show("alice").unwrap();
        let lease = view.head.held().expect("south still holds alice");
        assert_eq!((lease.holder.as_str(), lease.epoch), ("south", e2));
        // a release sent before the game learnt its epoch names its acquire request instead
        assert!(s.release("south", "alice", 0, Some(e2)).unwrap());
        assert!(matches!(
            s.acquire("north", "alice", 41, 0, false, false).unwrap(),
            Acquired::Acquired { .. }
        ));
        assert!(
            !s.release("north", "alice", 40, None).unwrap(),
            "another request"
        );
        assert!(
            !s.release("south", "alice", 41, None).unwrap(),
            "another server"
        );
        assert!(s.show("alice").unwrap().head.held().is_some());
        // a retried acquire renews the request it answers
        grant(&s, "north", "alice"); // request 1
        assert!(
            !s.release("north", "alice", 41, None).unwrap(),
            "an older request"
        );
        assert!(s.release("north", "alice", 1, None).unwrap());
        assert!(s.show("alice").unwrap().head.held().is_none());
    }

    pub fn admin_import_restore_and_release(b: &dyn Backend) {
        let (s, clock) = sync(b);
        let first = player_data("alice", 1);
        let id1 = cycle(&s, "north", "alice", &first);
        let (_, e, _) = grant(&s, "north", "alice");
        s.heartbeat("north").unwrap();
        let before = s.show("alice").unwrap().head;
        let imported = player_data("alice", 50);
        // refused while a live lease is held, and nothing changes
        match s.import("alice", &imported, false) {
            Err(AdminError::Refused(AdminRefusal::Held { holder, epoch, .. })) => {
                assert_eq!((holder.as_str(), epoch), ("north", e));
            }
            other => panic!("import over a live lease: {other:?}"),
        }
        assert!(matches!(
            s.restore("alice", id1, false),
            Err(AdminError::Refused(AdminRefusal::Held { .. }))
        ));
        assert!(matches!(
            s.admin_release("alice", false),
            Err(AdminError::Refused(AdminRefusal::Held { .. }))
        ));
        assert_eq!(s.show("alice").unwrap().head, before);
        // --force ends the lease: a new generation under a new epoch
        let id2 = s.import("alice", &imported, true).unwrap();
        let head = s.show("alice").unwrap().head;
        assert_eq!(head.generation, 2);
        assert_eq!(head.current, Some(id2));
        assert!(head.epoch > e);
        assert!(head.held().is_none());
        assert_eq!(head.snapshot(id2).unwrap().cause, Cause::AdminImport);
        assert_eq!(s.export("alice", None).unwrap(), imported);
        // the old holder's upload is refused and kept, never stored over the admin's data
        let late = player_data("alice", 2);
        let conflict = refused(s.upload("north", "alice", 2, e, false, &late).unwrap());
        assert_eq!(s.export("alice", None).unwrap(), imported);
        assert_eq!(s.export("alice", Some(conflict)).unwrap(), late);
        // restore an older snapshot, and the conflict itself
        let id3 = s.restore("alice", id1, false).unwrap();
        assert_eq!(s.export("alice", None).unwrap(), first);
        let head = s.show("alice").unwrap().head;
        assert_eq!((head.generation, head.current), (3, Some(id3)));
        assert_eq!(head.snapshot(id3).unwrap().cause, Cause::Restore);
        s.restore("alice", conflict, false).unwrap();
        assert_eq!(s.export("alice", None).unwrap(), late);
        assert!(matches!(
            s.restore("alice", 999, false),
            Err(AdminError::Refused(AdminRefusal::NoSnapshot {
                snapshot: 999,
                ..
            }))
        ));
        assert!(matches!(
            s.export("alice", Some(999)),
            Err(AdminError::Refused(AdminRefusal::NoSnapshot { .. }))
        ));
        // release: nothing held -> false; a dead lease -> true; a live one only with force
        assert!(!s.admin_release("alice", false).unwrap());
        let (_, e4, _) = grant(&s, "south", "alice");
        s.heartbeat("south").unwrap();
        assert!(s.admin_release("alice", true).unwrap());
        assert!(s.show("alice").unwrap().head.held().is_none());
        // after an admin release the holder's upload under the same epoch is still accepted
        // (a crash-recovery upload of the last holder)
        let g = s.show("alice").unwrap().head.generation;
        stored(
            s.upload("south", "alice", g + 1, e4, true, &player_data("alice", 7))
                .unwrap(),
        );
        grant(&s, "south", "alice");
        clock.fetch_add(TIMEOUT * 2, Ordering::SeqCst);
        assert!(s.admin_release("alice", false).unwrap(), "a dead lease");
        // unknown players and snapshots are errors that change nothing
        assert!(matches!(
            s.admin_release("nobody", true),
            Err(AdminError::Store(StoreError::Invalid(_)))
        ));
        assert!(matches!(
            s.restore("nobody", 1, true),
            Err(AdminError::Store(StoreError::Invalid(_)))
        ));
        assert!(matches!(
            s.export("nobody", None),
            Err(AdminError::Store(StoreError::Invalid(_)))
        ));
        assert!(matches!(s.show("nobody"), Err(StoreError::Invalid(_))));
        assert_eq!(s.list().unwrap(), vec!["alice".to_string()]);
        // import creates a player that never played
        s.import("bob", &player_data("bob", 1), false).unwrap();
        assert_eq!(s.export("bob", None).unwrap(), player_data("bob", 1));
        assert_eq!(
            s.list().unwrap(),
            vec!["alice".to_string(), "bob".to_string()]
        );
    }

    pub fn pins_and_history_pruning(b: &dyn Backend) {
        let (s, _) = sync(b);
        let store = b.store();
        let first = cycle(&s, "north", "alice", &player_data("alice", 0));
        let second = cycle(&s, "north", "alice", &player_data("alice", 1));
        s.set_pinned("alice", second, true).unwrap();
        // a conflict along the way, pinned until unpinned
        let (g, e, _) = grant(&s, "north", "alice");
        let conflict = refused(
            s.upload("south", "alice", g + 1, e, false, &player_data("alice", 99))
                .unwrap(),
        );
        stored(
            s.upload("north", "alice", g + 1, e, false, &player_data("alice", 2))
                .unwrap(),
        );
        for i in 3..25 {
            cycle(&s, "north", "alice", &player_data("alice", i));
        }
        let head = s.show("alice").unwrap().head;
        assert_eq!(head.generation, 25);
        let unpinned: Vec<u64> = head
            .history
            .iter()
            .filter(|m| !m.pinned)
            .map(|m| m.id)
            .collect();
        assert_eq!(unpinned.len(), 16, "the last 16 are kept");
        assert_eq!(
            head.history.len(),
            18,
            "plus the pinned one and the conflict"
        );
        assert!(head.snapshot(first).is_none());
        assert_eq!(
            store.blob("alice", first).unwrap(),
            None,
            "its blob went with it"
        );
        assert_eq!(
            s.export("alice", Some(second)).unwrap(),
            player_data("alice", 1)
        );
        assert_eq!(
            s.export("alice", Some(conflict)).unwrap(),
            player_data("alice", 99)
        );
        // newest kept: the last 16 generations
        let gens: Vec<u64> = head
            .history
            .iter()
            .filter(|m| !m.pinned)
            .map(|m| m.generation)
            .collect();
        assert_eq!(gens, (10..=25).collect::<Vec<_>>());
        // unpinned, they leave at the next write
        s.set_pinned("alice", second, false).unwrap();
        s.set_pinned("alice", conflict, false).unwrap();
        cycle(&s, "north", "alice", &player_data("alice", 25));
        let head = s.show("alice").unwrap().head;
        assert_eq!(head.history.len(), 16);
        assert!(head.snapshot(second).is_none() && head.snapshot(conflict).is_none());
        assert_eq!(store.blob("alice", conflict).unwrap(), None);
        assert!(matches!(
            s.set_pinned("alice", second, true),
            Err(AdminError::Refused(AdminRefusal::NoSnapshot { .. }))
        ));
        assert!(matches!(
            s.set_pinned("nobody", 1, true),
            Err(AdminError::Store(StoreError::Invalid(_)))
        ));
    }

    pub fn corrupt_records_are_reported_and_never_returned(b: &dyn Backend) {
        let (s, _) = sync(b);
        let store = b.store();
        let data = player_data("alice", 1);
        let id = cycle(&s, "north", "alice", &data);
        cycle(&s, "north", "carol", &player_data("carol", 1));
        // a damaged blob: one flipped byte in its compressed data
        let mut blob = store.blob("alice", id).unwrap().expect("blob");
        let last = blob.len() - 2;
        blob[last] ^= 0x20;
        b.overwrite_blob("alice", id, &blob);
        let before = s.show("alice").unwrap().head;
        match s.acquire("south", "alice", 1, 0, false, false) {
            Err(StoreError::Corrupt(RecordError::CorruptSnapshot {
                player, snapshot, ..
            })) => assert_eq!((player.as_str(), snapshot), ("alice", id)),
            other => panic!("acquire over a damaged blob: {other:?}"),
        }
        assert_eq!(
            s.show("alice").unwrap().head,
            before,
            "nothing was granted with damaged data"
        );
        match s.export("alice", None) {
            Err(AdminError::Store(StoreError::Corrupt(RecordError::CorruptSnapshot {
                snapshot,
                ..
            }))) => assert_eq!(snapshot, id),
            other => panic!("export of a damaged blob: {other:?}"),
        }
        // a server that uploaded it and kept its copy needs no data, so it may play on
        assert!(matches!(
            s.acquire("north", "alice", 1, 1, true, false).unwrap(),
            Acquired::Acquired { data: None, .. }
        ));
        // a missing blob is damage too
        b.overwrite_blob("alice", id, b"");
        assert!(matches!(
            s.export("alice", Some(id)),
            Err(AdminError::Store(StoreError::Corrupt(
                RecordError::CorruptSnapshot { .. }
            )))
        ));
        // a damaged head: every operation on the player reports it by name
        let mut head = store.load("alice").unwrap().expect("head").bytes;
        let mid = head.len() / 2;
        head[mid] ^= 0x01;
        b.overwrite_head("alice", &head);
        let named = |e: &StoreError| matches!(e, StoreError::Corrupt(RecordError::CorruptHead { player, .. }) if player == "alice");
        assert!(named(
            &s.acquire("south", "alice", 1, 0, false, false).unwrap_err()
        ));
        assert!(named(&s.show("alice").unwrap_err()));
        assert!(named(
            &s.upload("north", "alice", 2, 3, false, &data).unwrap_err()
        ));
        assert!(named(&s.release("north", "alice", 0, Some(2)).unwrap_err()));
        assert!(matches!(s.export("alice", None), Err(AdminError::Store(e)) if named(&e)));
        assert!(matches!(s.import("alice", &data, true), Err(AdminError::Store(e)) if named(&e)));
        assert!(s.show("alice").is_err());
        // a head that is not even the format, and one valid record under another name
        b.overwrite_head("alice", b"not a record");
        assert!(named(&s.show("alice").unwrap_err()));
        let carols = store.load("carol").unwrap().unwrap().bytes;
        b.overwrite_head("alice", &carols);
        assert!(named(
            &s.acquire("south", "alice", 1, 0, false, false).unwrap_err()
        ));
        // a damaged revision (the compare-and-set counter beside the head) is damage too
        let carols_revision = store.load("carol").unwrap().unwrap().revision;
        for (i, bad) in ["x1", "-3"].into_iter().enumerate() {
            let dave = format!("dave{i}");
            cycle(&s, "north", &dave, &player_data(&dave, 1));
            if b.overwrite_revision(&dave, bad) {
                let named = |e: &StoreError| matches!(e, StoreError::Corrupt(RecordError::CorruptHead { player, .. }) if *player == dave);
                assert!(named(&s.show(&dave).unwrap_err()), "revision {bad:?}");
                assert!(named(
                    &s.acquire("south", &dave, 1, 0, false, false).unwrap_err()
                ));
            }
        }
        // other players are untouched
        assert_eq!(
            store.load("carol").unwrap().unwrap().revision,
            carols_revision
        );
        assert_eq!(s.export("carol", None).unwrap(), player_data("carol", 1));
        // damaged players are still listed, for an admin to find
        let listed = s.list().unwrap();
        for p in ["alice", "carol", "dave0", "dave1"] {
            assert!(listed.contains(&p.to_string()), "{p} in {listed:?}");
        }
    }

    pub fn bad_names_are_refused_and_change_nothing(b: &dyn Backend) {
        let (s, _) = sync(b);
        let data = player_data("x", 1);
        let long = "p".repeat(invsync_sync::MAX_PLAYER_NAME + 1);
        for player in ["", "tab\there", "new\nline", long.as_str()] {
            assert!(
                matches!(
                    s.acquire("north", player, 1, 0, false, false),
                    Err(StoreError::Invalid(_))
                ),
                "{player:?}"
            );
            assert!(matches!(
                s.upload("north", player, 1, 1, false, &data),
                Err(StoreError::Invalid(_))
            ));
            assert!(matches!(
                s.release("north", player, 0, Some(1)),
                Err(StoreError::Invalid(_))
            ));
            assert!(matches!(s.show(player), Err(StoreError::Invalid(_))));
            assert!(s.import(player, &data, true).is_err());
        }
        let long_server = "s".repeat(invsync_sync::MAX_SERVER_ID + 1);
        for server in ["", "nul\0", long_server.as_str()] {
            assert!(
                matches!(
                    s.acquire(server, "alice", 1, 0, false, false),
                    Err(StoreError::Invalid(_))
                ),
                "{server:?}"
            );
            assert!(matches!(
                s.upload(server, "alice", 1, 1, false, &data),
                Err(StoreError::Invalid(_))
            ));
            assert!(matches!(s.heartbeat(server), Err(StoreError::Invalid(_))));
        }
        assert!(s.list().unwrap().is_empty(), "nothing was written");
        assert!(s.servers().unwrap().is_empty());
        // data over the limit is refused, not kept
        let small = PlayerStore::new(
            b.store(),
            Settings {
                max_data_bytes: 64,
                ..Settings::default()
            },
        );
        let (g, e, _) = grant(&small, "north", "alice");
        assert!(matches!(
            small.upload("north", "alice", g + 1, e, false, &[b' '; 65]),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(small.show("alice").unwrap().head.generation, 0);
        // names that are awkward but valid work, and come back from list as they went in
        let max = "m".repeat(invsync_sync::MAX_PLAYER_NAME);
        let odd = ["a{b}c", "%41", "ünï cödé", "}{", max.as_str()];
        for name in odd {
            let data = player_data("odd", name.len() as u64);
            cycle(&s, "north", name, &data);
            assert_eq!(s.export(name, None).unwrap(), data, "{name:?}");
        }
        let mut want: Vec<String> = odd.iter().map(|n| n.to_string()).collect();
        want.push("alice".into());
        want.sort();
        assert_eq!(s.list().unwrap(), want);
    }

    // the anchors' bugs ------------------------------------------------------------------

    /// Clusterio deletes the lock after any upload, even a lock another instance holds.
    pub fn an_upload_never_ends_another_servers_lock(b: &dyn Backend) {
        let (s, clock) = sync(b);
        cycle(&s, "north", "alice", &player_data("alice", 1));
        let (g, e1, _) = grant(&s, "north", "alice");
        clock.fetch_add(TIMEOUT, Ordering::SeqCst); // north is gone
        let (_, e2, _) = grant(&s, "south", "alice");
        s.heartbeat("south").unwrap();
        // north comes back and uploads under its old epoch, then under the new one
        refused(
            s.upload("north", "alice", g + 1, e1, false, &player_data("alice", 2))
                .unwrap(),
        );
        refused(
            s.upload("north", "alice", g + 1, e2, false, &player_data("alice", 3))
                .unwrap(),
        );
        // and releases, and a third server asks: south still holds alice
        assert!(!s.release("north", "alice", 0, Some(e1)).unwrap());
        assert!(!s.release("north", "alice", 0, Some(e2)).unwrap());
        assert_eq!(busy(&s, "west", "alice"), "south");
        let view = s.show("alice").unwrap();
        assert!(view.live);
        let lease = view.head.held().unwrap();
        assert_eq!((lease.holder.as_str(), lease.epoch), ("south", e2));
        assert_eq!(view.head.generation, g, "nothing stored");
        stored(
            s.upload("south", "alice", g + 1, e2, false, &player_data("alice", 4))
                .unwrap(),
        );
    }

    /// HuskSync sets its checkout with a read and then a write: two servers can both win.
    pub fn two_servers_acquiring_in_the_same_millisecond_get_one_grant(b: &dyn Backend) {
        let (s, _) = sync(b);
        // the clock does not move: every request below is in the same millisecond
        let (_, e, _) = grant(&s, "north", "alice");
        assert_eq!(busy(&s, "south", "alice"), "north");
        // and at once, from threads, each with its own connection
        const N: usize = 8;
        let players: Vec<PlayerStore> = (0..N)
            .map(|_| {
                let (clock, _) = invsync_sync::Clock::manual(T0);
                PlayerStore::new(b.store(), Settings::default()).with_clock(clock)
            })
            .collect();
        for round in 0..4 {
            let player = format!("bob{round}");
            let barrier = Arc::new(Barrier::new(N));
            let answers: Vec<Acquired> = std::thread::scope(|scope| {
                let handles: Vec<_> = players
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let barrier = barrier.clone();
                        let player = player.clone();
                        scope.spawn(move || {
                            barrier.wait();
                            p.acquire(&format!("server{i}"), &player, 1, 0, false, false)
                                .unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let granted: Vec<usize> = (0..N)
                .filter(|i| matches!(answers[*i], Acquired::Acquired { .. }))
                .collect();
            assert_eq!(granted.len(), 1, "round {round}: {answers:?}");
            let winner = format!("server{}", granted[0]);
            for a in &answers {
                if let Acquired::Busy { holder, since } = a {
                    assert_eq!((holder, *since), (&winner, T0));
                }
            }
            assert_eq!(s.show(&player).unwrap().head.epoch, 1);
        }
        // and only the holder can produce generation 1
        refused(
            s.upload("south", "alice", 1, e, false, &player_data("alice", 1))
                .unwrap(),
        );
        stored(
            s.upload("north", "alice", 1, e, false, &player_data("alice", 2))
                .unwrap(),
        );
    }

    /// HuskSync #486: after waiting ~8 s for the checkout, a joining server loads the data
    /// while another still holds the player.
    pub fn a_joining_server_never_reads_the_data_while_another_holds_the_player(b: &dyn Backend) {
        let (s, clock) = sync(b);
        cycle(&s, "north", "alice", &player_data("alice", 1));
        grant(&s, "north", "alice");
        // south asks for ten minutes while north is alive: busy every time, never the data
        for _ in 0..120 {
            s.heartbeat("north").unwrap();
            clock.fetch_add(5_000, Ordering::SeqCst);
            match s.acquire("south", "alice", 1, 0, false, false).unwrap() {
                Acquired::Busy { holder, .. } => assert_eq!(holder, "north"),
                granted => panic!("south was handed alice while north holds her: {granted:?}"),
            }
        }
        // north uploads and leaves; now south gets the newest data
        let e = s.show("alice").unwrap().head.epoch;
        let newest = player_data("alice", 2);
        stored(s.upload("north", "alice", 2, e, false, &newest).unwrap());
        assert_eq!(grant(&s, "south", "alice").2, Some(newest));
    }

    /// HuskSync #726 / #654: the "latest" snapshot is picked by time, so a save that finishes
    /// late overwrites a newer one.
    pub fn a_late_save_never_overwrites_a_newer_one(b: &dyn Backend) {
        let (s, clock) = sync(b);
        let old = player_data("alice", 1);
        let (_, e1, _) = grant(&s, "north", "alice");
        let id1 = stored(s.upload("north", "alice", 1, e1, false, &old).unwrap());
        let newer = player_data("alice", 2);
        let (_, e2, _) = grant(&s, "south", "alice");
        let id2 = stored(s.upload("south", "alice", 2, e2, false, &newer).unwrap());
        // north's first save arrives again, much later (a retry): answered, not stored again
        clock.fetch_add(60_000, Ordering::SeqCst);
        assert_eq!(
            s.upload("north", "alice", 1, e1, false, &old).unwrap(),
            UploadOutcome::Repeat { snapshot: id1 }
        );
        // a save under an expired grant that finishes after a newer one: refused
        let (_, e3, _) = grant(&s, "north", "alice");
        clock.fetch_add(TIMEOUT, Ordering::SeqCst);
        let (_, e4, _) = grant(&s, "south", "alice");
        let newest = player_data("alice", 4);
        let id4 = stored(s.upload("south", "alice", 3, e4, false, &newest).unwrap());
        clock.fetch_add(1, Ordering::SeqCst);
        let late = player_data("alice", 3);
        let conflict = refused(s.upload("north", "alice", 3, e3, false, &late).unwrap());
        let head = s.show("alice").unwrap().head;
        assert_eq!((head.generation, head.current), (3, Some(id4)));
        assert_eq!(s.export("alice", None).unwrap(), newest);
        assert_eq!(s.export("alice", Some(id2)).unwrap(), newer);
        assert_eq!(s.export("alice", Some(conflict)).unwrap(), late);
    }

    /// A holder that stalled past its lease uploads after another server took the player
    /// over: refused, kept as a conflict, nothing merged.
    pub fn a_stale_holders_upload_after_a_takeover_is_refused_and_kept_as_a_conflict(
        b: &dyn Backend,
    ) {
        let (s, clock) = sync(b);
        let base = player_data("alice", 1);
        cycle(&s, "north", "alice", &base);
        let (g, e_stale, data) = grant(&s, "north", "alice");
        assert_eq!(data, Some(base));
        s.heartbeat("north").unwrap();
        clock.fetch_add(TIMEOUT + 1, Ordering::SeqCst); // north stalls, no heartbeat
        let (g2, e_new, _) = grant(&s, "south", "alice");
        assert_eq!(g2, g);
        let souths = player_data("alice", 20);
        let id = stored(
            s.upload("south", "alice", g + 1, e_new, false, &souths)
                .unwrap(),
        );
        let norths = player_data("alice", 10);
        let out = s
            .upload("north", "alice", g + 1, e_stale, false, &norths)
            .unwrap();
        let UploadOutcome::Refused { reason, conflict } = out else {
            panic!("stale upload: {out:?}")
        };
        assert!(reason.contains("epoch"), "{reason}");
        let head = s.show("alice").unwrap().head;
        assert_eq!((head.generation, head.current), (g + 1, Some(id)));
        // south's data byte for byte, north's kept byte for byte beside it
        assert_eq!(s.export("alice", None).unwrap(), souths);
        assert_eq!(s.export("alice", Some(conflict)).unwrap(), norths);
        let meta = head.snapshot(conflict).unwrap();
        assert_eq!(
            (meta.cause, meta.pinned, meta.server.as_str(), meta.epoch),
            (Cause::Conflict, true, "north", e_stale)
        );
    }

    /// Issue 16 part 4: a game that holds an older generation unchanged and applies deltas
    /// gets what changed since, checked against the stored data; every other acquire gets the
    /// full data as before.
    pub fn a_returning_player_gets_a_delta_against_the_generation_the_game_holds(b: &dyn Backend) {
        let (s, _) = sync(b);
        let (one, two) = (player_data("alice", 1), player_data("alice", 2));
        cycle(&s, "north", "alice", &one);
        // north holds generation 1, the stored one: nothing to send, delta or not
        assert_eq!(rejoin(&s, "north", "alice", 1, true, true), (None, None));
        s.release("north", "alice", 7, None).unwrap();
        cycle(&s, "south", "alice", &two);
        let (data, delta) = rejoin(&s, "north", "alice", 1, true, true);
        assert_eq!(
            data.as_deref(),
            Some(&two[..]),
            "the full data stays beside the delta"
        );
        check_delta("alice", &delta.expect("a delta"), (1, &one), (2, &two));
        s.release("north", "alice", 7, None).unwrap();
        // the full data, no delta: the game did not ask, its copy changed, it has none, its
        // generation is not older than the stored one
        for (local, unchanged, delta) in [
            (1, true, false),
            (1, false, true),
            (0, true, true),
            (3, true, true),
        ] {
            let answer = rejoin(&s, "north", "alice", local, unchanged, delta);
            assert_eq!(
                answer,
                (Some(two.clone()), None),
                "{local} {unchanged} {delta}"
            );
            s.release("north", "alice", 7, None).unwrap();
        }
    }

    pub fn the_full_data_is_sent_when_the_base_is_gone_damaged_a_conflict_or_the_delta_bigger(
        b: &dyn Backend,
    ) {
        // two snapshots kept: generation 1 leaves the history when 3 is stored
        let (s, _) = on_manual_clock(
            b.store(),
            Settings {
                keep_snapshots: 2,
                ..Settings::default()
            },
        );
        let data: Vec<Vec<u8>> = (1..=3).map(|g| player_data("alice", g)).collect();
        for d in &data {
            cycle(&s, "north", "alice", d);
        }
        let full = Some(data[2].clone());
        assert_eq!(
            rejoin(&s, "south", "alice", 1, true, true),
            (full.clone(), None),
            "pruned"
        );
        s.release("south", "alice", 7, None).unwrap();
        let (_, delta) = rejoin(&s, "south", "alice", 2, true, true);
        check_delta(
            "alice",
            &delta.expect("a delta"),
            (2, &data[1]),
            (3, &data[2]),
        );
        s.release("south", "alice", 7, None).unwrap();
        // a damaged base is logged and the full data sent: never an error for the player
        let base = s
            .show("alice")
            .unwrap()
            .head
            .history
            .iter()
            .find(|m| m.generation == 2)
            .unwrap()
            .id;
        b.overwrite_blob("alice", base, b"not a blob");
        assert_eq!(
            rejoin(&s, "south", "alice", 2, true, true),
            (full.clone(), None),
            "damaged"
        );
        s.release("south", "alice", 7, None).unwrap();

        // a generation claimed only by a conflict is not a base: the game's copy is not it
        let (s, _) = on_manual_clock(
            b.store(),
            Settings {
                keep_snapshots: 1,
                ..Settings::default()
            },
        );
        cycle(&s, "north", "bob", &player_data("bob", 1));
        let (_, e_north, _) = grant(&s, "north", "bob");
        s.release("north", "bob", 1, Some(e_north)).unwrap();
        cycle(&s, "south", "bob", &player_data("bob", 2));
        refused(
            s.upload("north", "bob", 2, e_north, false, &player_data("bob", 20))
                .unwrap(),
        );
        let three = player_data("bob", 3);
        cycle(&s, "south", "bob", &three);
        let head = s.show("bob").unwrap().head;
        let kept: Vec<(u64, Cause)> = head
            .history
            .iter()
            .map(|m| (m.generation, m.cause))
            .collect();
        assert_eq!(kept, [(2, Cause::Conflict), (3, Cause::Upload)]);
        assert_eq!(
            rejoin(&s, "north", "bob", 2, true, true),
            (Some(three.clone()), None),
            "conflict"
        );
        s.release("north", "bob", 7, None).unwrap();

        // a delta bigger than the data itself, and a base that is not PLAYER_DATA
        let (s, _) = sync(b);
        cycle(&s, "north", "carol", &player_data("carol", 1));
        let tiny = br#"{"format":2,"name":"carol"}"#.to_vec();
        cycle(&s, "south", "carol", &tiny);
        assert_eq!(
            rejoin(&s, "north", "carol", 1, true, true),
            (Some(tiny), None),
            "bigger"
        );
        s.release("north", "carol", 7, None).unwrap();
        cycle(&s, "north", "dave", &player_data("dave", 0));
        cycle(&s, "south", "dave", &player_data("dave", 1));
        let answer = rejoin(&s, "north", "dave", 1, true, true);
        assert_eq!(
            answer,
            (Some(player_data("dave", 1)), None),
            "a base that does not parse"
        );
    }

    /// A delta the game would not write in place (it would ask for the whole data) is not
    /// sent: the armor changes, the inventory shrinks, a crafting queue. The same data with the
    /// armor, bonus and queue unchanged goes as a delta.
    pub fn a_delta_the_game_would_not_write_in_place_is_not_sent(b: &dyn Backend) {
        let (s, _) = sync(b);
        // a blueprint that does not change: what makes the delta worth sending
        let x = "AbCd".repeat(100);
        let doc = |armor: f64, bonus: u32, crafting: &str, coal: u32| {
            format!(
                r#"{{"format":2,"name":"erin","bonuses":{{"character_inventory_slots_bonus":{bonus}}},"inventories":{{"main":[[1,"coal",{coal}],[2,"iron-plate",100,40],{{"s":50,"n":"blueprint","c":1,"x":"0eNq{x}"}}],"armor":[{{"s":1,"n":"modular-armor","c":1,"h":{armor}}}]}}{crafting}}}"#
            )
            .into_bytes()
        };
        let queue = r#","crafting":{"queue":[{"recipe":"iron-gear-wheel","count":2}],"ingredients":[[0,"iron-plate",4]]}"#;
        let base = doc(0.5, 10, "", 5);
        for (case, new) in [
            ("the armor", doc(0.75, 10, "", 6)),
            ("the bonus", doc(0.5, 5, "", 6)),
            ("a queue", doc(0.5, 10, queue, 6)),
            ("in place", doc(0.5, 20, "", 6)),
        ] {
            cycle(&s, "north", "erin", &base);
            cycle(&s, "south", "erin", &new);
            let (data, delta) = rejoin(
                &s,
                "north",
                "erin",
                s.show("erin").unwrap().head.generation - 1,
                true,
                true,
            );
            assert_eq!(data.as_deref(), Some(&new[..]), "{case}");
            assert_eq!(delta.is_some(), case == "in place", "{case}");
            s.release("north", "erin", 7, None).unwrap();
        }
    }

    /// The `bp` sample (seed 1) with three ordinary slots changed: its delta against the
    /// generation before, beside the full data (PROTOCOL.md section 7 quotes the sizes).
    pub fn a_returning_bp_player_with_three_changed_slots_gets_a_small_delta(b: &dyn Backend) {
        let (s, _) = sync(b);
        let one = generate(SampleKind::Bp, 1);
        let mut player = PlayerData::from_json(&one).unwrap();
        let ordinary = player
            .inventories
            .main
            .iter_mut()
            .filter(|st| st.export.is_none() && st.count > 1);
        for st in ordinary.take(3) {
            st.count -= 1;
        }
        let two = player.to_json().into_bytes();
        let name = player.name.clone();
        cycle(&s, "north", &name, &one);
        cycle(&s, "south", &name, &two);
        let (_, delta) = rejoin(&s, "north", &name, 1, true, true);
        let sent = check_delta(&name, &delta.expect("a delta"), (1, &one), (2, &two));
        let full = player_data_message(&name, 2, &two).len();
        println!("bp, 3 slots changed: player_delta {sent} bytes, player_data {full}");
        assert!(sent * 100 < full, "{sent} is not under 1 % of {full}");
    }
}

macro_rules! suite {
    ($store:ident) => {
        mod $store {
            macro_rules! case {
                ($case:ident) => {
                    #[test]
                    fn $case() {
                        let test = concat!(stringify!($store), "-", stringify!($case));
                        if let Some(b) = crate::support::$store(test) {
                            crate::cases::$case(b.as_ref());
                        }
                    }
                };
            }
            case!(acquire_busy_and_repeat);
            case!(lease_expires_when_the_holder_stops_heartbeating);
            case!(upload_is_stored_and_a_repeat_is_idempotent);
            case!(refused_uploads_are_kept_as_pinned_conflicts);
            case!(release_needs_the_current_epoch_and_holder);
            case!(admin_import_restore_and_release);
            case!(pins_and_history_pruning);
            case!(corrupt_records_are_reported_and_never_returned);
            case!(bad_names_are_refused_and_change_nothing);
            case!(an_upload_never_ends_another_servers_lock);
            case!(two_servers_acquiring_in_the_same_millisecond_get_one_grant);
            case!(a_joining_server_never_reads_the_data_while_another_holds_the_player);
            case!(a_late_save_never_overwrites_a_newer_one);
            case!(a_stale_holders_upload_after_a_takeover_is_refused_and_kept_as_a_conflict);
            case!(a_returning_player_gets_a_delta_against_the_generation_the_game_holds);
            case!(
                the_full_data_is_sent_when_the_base_is_gone_damaged_a_conflict_or_the_delta_bigger
            );
            case!(a_returning_bp_player_with_three_changed_slots_gets_a_small_delta);
            case!(a_delta_the_game_would_not_write_in_place_is_not_sent);
        }
    };
}

suite!(memory);
suite!(sqlite);
suite!(redis);
