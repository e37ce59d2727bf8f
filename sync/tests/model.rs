//! A model-based property test: random operations from several servers (acquires, uploads
//! with right and wrong epochs and generations, repeats, releases, heartbeats, clock advances,
//! servers that die, admin writes) run on each real store and on the in-memory store, the
//! reference model, with every answer and every player's `show` view compared after each step.
//! Beside the comparison, a few rules are checked on the model's answers directly: nobody is
//! granted a player another server holds live, an upload is stored only under the current
//! epoch as the next generation, and epochs and generations never go back.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use invsync_player_data::{Delta, PlayerData, apply};
use invsync_sync::{
    Acquired, Cause, MemoryStore, PlayerStore, PlayerView, Settings, Store, UploadOutcome,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::{TestRedis, on_manual_clock, player_data};

const SERVERS: [&str; 3] = ["north", "south", "west"];
const PLAYERS: [&str; 2] = ["alice", "bob"];
/// Cases per store and operations per case: enough to reach takeovers, conflicts, pruning
/// and admin writes in many orders, small enough that the suite stays fast.
const CASES: u32 = 64;
const MAX_OPS: usize = 64;

fn settings() -> Settings {
    Settings {
        lease_timeout_ms: 30_000,
        keep_snapshots: 3, // pruning happens within a case
        ..Settings::default()
    }
}

/// Which epoch an upload or release carries.
#[derive(Debug, Clone, Copy)]
enum Ep {
    /// The one this server was last granted for the player.
    Granted,
    /// The player's current epoch (whoever holds it).
    Current,
    /// One before the granted one.
    Older,
    /// One after the granted one.
    Newer,
}

/// Which generation an upload claims, from the one granted.
#[derive(Debug, Clone, Copy)]
enum Gen {
    Next,
    Same,
    Skip,
}

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        server: usize,
        player: usize,
        know_local: bool,
        unchanged: bool,
        /// The game applies deltas (with `know_local` and `unchanged`, the newer data comes as
        /// a delta when its base is still in the history).
        delta: bool,
    },
    Upload {
        server: usize,
        /// Sent by the player's holder, whichever server that is (else by `server`).
        holder: bool,
        player: usize,
        generation: Gen,
        epoch: Ep,
        recovered: bool,
        data: u8,
    },
    /// The last upload sent again, byte for byte.
    Repeat,
    Release {
        server: usize,
        player: usize,
        epoch: Option<Ep>,
    },
    Heartbeat {
        server: usize,
    },
    Advance {
        ms: u64,
    },
    /// The server stops heartbeating for the rest of the case (it may still send late).
    Die {
        server: usize,
    },
    Import {
        player: usize,
        data: u8,
        force: bool,
    },
    Restore {
        player: usize,
        pick: usize,
        force: bool,
    },
    AdminRelease {
        player: usize,
        force: bool,
    },
    Pin {
        player: usize,
        pick: usize,
        pinned: bool,
    },
    Export {
        player: usize,
        pick: Option<usize>,
    },
}

fn ep() -> impl Strategy<Value = Ep> {
    prop_oneof![
        6 => Just(Ep::Granted),
        2 => Just(Ep::Current),
        1 => Just(Ep::Older),
        1 => Just(Ep::Newer),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let server = 0..SERVERS.len();
    let player = 0..PLAYERS.len();
    prop_oneof![
        8 => (server.clone(), player.clone(), any::<bool>(), any::<bool>(), prop::bool::weighted(0.9)).prop_map(
            |(server, player, know_local, unchanged, delta)| Op::Acquire { server, player, know_local, unchanged, delta }
        ),
        10 => (
            (server.clone(), prop::bool::weighted(0.7)),
            player.clone(),
            prop_oneof![6 => Just(Gen::Next), 1 => Just(Gen::Same), 1 => Just(Gen::Skip)],
            ep(),
            prop::bool::weighted(0.2),
            0u8..4,
        )
            .prop_map(|((server, holder), player, generation, epoch, recovered, data)| Op::Upload {
                server, holder, player, generation, epoch, recovered, data
            }),
        2 => Just(Op::Repeat),
        3 => (server.clone(), player.clone(), prop::option::weighted(0.8, ep()))
            .prop_map(|(server, player, epoch)| Op::Release { server, player, epoch }),
        5 => server.clone().prop_map(|server| Op::Heartbeat { server }),
        4 => prop_oneof![0u64..2_000, 10_000u64..20_000, 25_000u64..40_000]
            .prop_map(|ms| Op::Advance { ms }),
        1 => server.clone().prop_map(|server| Op::Die { server }),
        1 => (player.clone(), 0u8..4, any::<bool>())
            .prop_map(|(player, data, force)| Op::Import { player, data, force }),
        1 => (player.clone(), 0usize..5, any::<bool>())
            .prop_map(|(player, pick, force)| Op::Restore { player, pick, force }),
        1 => (player.clone(), any::<bool>())
            .prop_map(|(player, force)| Op::AdminRelease { player, force }),
        1 => (player.clone(), 0usize..5, any::<bool>())
            .prop_map(|(player, pick, pinned)| Op::Pin { player, pick, pinned }),
        1 => (player, prop::option::of(0usize..8))
            .prop_map(|(player, pick)| Op::Export { player, pick }),
    ]
}

/// One store on a manual clock.
struct Side {
    sync: PlayerStore,
    clock: Arc<AtomicU64>,
}

impl Side {
    fn new(store: Arc<dyn Store>) -> Side {
        let (sync, clock) = on_manual_clock(store, settings());
        Side { sync, clock }
    }
}

/// What the servers of the test know (from the model's answers).
#[derive(Default)]
struct Servers {
    /// Per (server, player): (generation, epoch, request) of the last grant.
    granted: [[Option<(u64, u64, u64)>; PLAYERS.len()]; SERVERS.len()],
    dead: [bool; SERVERS.len()],
    requests: u64,
    /// The last upload: (server, player, generation, epoch, recovered, data).
    last_upload: Option<(usize, usize, u64, u64, bool, Vec<u8>)>,
}

fn view(s: &PlayerStore, player: &str) -> Option<PlayerView> {
    s.show(player).ok()
}

/// A snapshot id from the model's history of `player` (or one that does not exist).
fn pick_snapshot(model: &PlayerStore, player: &str, pick: usize) -> u64 {
    match view(model, player) {
        Some(v) if pick < v.head.history.len() => v.head.history[pick].id,
        _ => 999,
    }
}

fn run_case(real: Arc<dyn Store>, ops: &[Op]) -> Result<(), TestCaseError> {
    let model = Side::new(Arc::new(MemoryStore::new()));
    let real = Side::new(real);
    let mut servers = Servers::default();
    let mut seen_epoch = [0u64; PLAYERS.len()];
    let mut seen_generation = [0u64; PLAYERS.len()];
    for (step, op) in ops.iter().enumerate() {
        let at = format!("step {step}: {op:?}");
        // both sides answer the same concrete request; their answers must be equal
        let (m, r) = match op {
            Op::Acquire {
                server,
                player,
                know_local,
                unchanged,
                delta,
            } => {
                let (s, p) = (SERVERS[*server], PLAYERS[*player]);
                servers.requests += 1;
                let request = servers.requests;
                let local = match servers.granted[*server][*player] {
                    Some((g, ..)) if *know_local => g,
                    _ => 0,
                };
                let before = view(&model.sync, p);
                let m = model.sync.acquire(s, p, request, local, *unchanged, *delta);
                let r = real.sync.acquire(s, p, request, local, *unchanged, *delta);
                if let Ok(Acquired::Acquired {
                    generation, epoch, ..
                }) = &m
                {
                    if let Some(v) = &before
                        && v.live
                    {
                        let holder = &v.head.held().expect("live").holder;
                        prop_assert_eq!(holder.as_str(), s, "{}: granted over a live lease", at);
                    }
                    servers.granted[*server][*player] = Some((*generation, *epoch, request));
                }
                if let Ok(Acquired::Acquired {
                    data: Some(data),
                    delta: Some(delta),
                    ..
                }) = &m
                {
                    // applied to the snapshot of its base, it is the data (a few cases in a
                    // run get here; the conformance suite has the deltas case by case)
                    let head = view(&model.sync, p).expect("held").head;
                    let base = head
                        .history
                        .iter()
                        .find(|m| m.generation == delta.base && m.cause != Cause::Conflict);
                    let base = model.sync.export(p, Some(base.expect("kept").id)).unwrap();
                    let base = PlayerData::from_json(&base).unwrap();
                    let got = apply(&base, &Delta::from_json(&delta.message).unwrap());
                    prop_assert_eq!(got.unwrap(), PlayerData::from_json(data).unwrap(), "{}", at);
                }
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::Upload {
                server,
                holder,
                player,
                generation,
                epoch,
                recovered,
                data,
            } => {
                let p = PLAYERS[*player];
                let held_by = view(&model.sync, p)
                    .and_then(|v| v.head.held().map(|l| l.holder.clone()))
                    .and_then(|h| SERVERS.iter().position(|s| *s == h));
                let server = &match held_by {
                    Some(h) if *holder => h,
                    _ => *server,
                };
                let (g, e, _) = servers.granted[*server][*player].unwrap_or((0, 0, 0));
                let generation = match generation {
                    Gen::Next => g + 1,
                    Gen::Same => g,
                    Gen::Skip => g + 2,
                };
                let epoch = concrete_epoch(*epoch, e, &model.sync, p);
                let data = player_data(p, u64::from(*data) + 100 * u64::from(*server as u8));
                servers.last_upload = Some((*server, *player, generation, epoch, *recovered, data));
                upload(&model, &real, &servers, &at)?
            }
            Op::Repeat => match &servers.last_upload {
                None => continue,
                Some(_) => upload(&model, &real, &servers, &at)?,
            },
            Op::Release {
                server,
                player,
                epoch,
            } => {
                let (s, p) = (SERVERS[*server], PLAYERS[*player]);
                let (_, e, request) = servers.granted[*server][*player].unwrap_or((0, 0, 0));
                let epoch = epoch.map(|x| concrete_epoch(x, e, &model.sync, p));
                let m = model.sync.release(s, p, request, epoch);
                let r = real.sync.release(s, p, request, epoch);
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::Heartbeat { server } => {
                if servers.dead[*server] {
                    continue;
                }
                let m = model.sync.heartbeat(SERVERS[*server]);
                let r = real.sync.heartbeat(SERVERS[*server]);
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::Advance { ms } => {
                model.clock.fetch_add(*ms, Ordering::SeqCst);
                real.clock.fetch_add(*ms, Ordering::SeqCst);
                continue;
            }
            Op::Die { server } => {
                servers.dead[*server] = true;
                continue;
            }
            Op::Import {
                player,
                data,
                force,
            } => {
                let p = PLAYERS[*player];
                let data = player_data(p, 1000 + u64::from(*data));
                let m = model.sync.import(p, &data, *force);
                let r = real.sync.import(p, &data, *force);
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::Restore {
                player,
                pick,
                force,
            } => {
                let p = PLAYERS[*player];
                let id = pick_snapshot(&model.sync, p, *pick);
                let m = model.sync.restore(p, id, *force);
                let r = real.sync.restore(p, id, *force);
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::AdminRelease { player, force } => {
                let p = PLAYERS[*player];
                let m = model.sync.admin_release(p, *force);
                let r = real.sync.admin_release(p, *force);
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::Pin {
                player,
                pick,
                pinned,
            } => {
                let p = PLAYERS[*player];
                let id = pick_snapshot(&model.sync, p, *pick);
                let m = model.sync.set_pinned(p, id, *pinned);
                let r = real.sync.set_pinned(p, id, *pinned);
                (format!("{m:?}"), format!("{r:?}"))
            }
            Op::Export { player, pick } => {
                let p = PLAYERS[*player];
                let id = pick.map(|pick| pick_snapshot(&model.sync, p, pick));
                let m = model.sync.export(p, id);
                let r = real.sync.export(p, id);
                (format!("{m:?}"), format!("{r:?}"))
            }
        };
        prop_assert_eq!(&m, &r, "{}: the stores answer differently", at);
        // then the whole state: every player's view, the player list, the servers
        for (i, p) in PLAYERS.iter().enumerate() {
            let mv = model.sync.show(p);
            let rv = real.sync.show(p);
            prop_assert_eq!(
                format!("{mv:?}"),
                format!("{rv:?}"),
                "{}: views of {} differ",
                at,
                p
            );
            if let Ok(v) = mv {
                prop_assert!(v.head.epoch >= seen_epoch[i], "{}: epoch went back", at);
                prop_assert!(
                    v.head.generation >= seen_generation[i],
                    "{}: generation went back",
                    at
                );
                seen_epoch[i] = v.head.epoch;
                seen_generation[i] = v.head.generation;
            }
        }
        prop_assert_eq!(
            format!("{:?}", model.sync.list()),
            format!("{:?}", real.sync.list()),
            "{}",
            at
        );
        prop_assert_eq!(
            format!("{:?}", model.sync.servers()),
            format!("{:?}", real.sync.servers()),
            "{}",
            at
        );
    }
    Ok(())
}

fn concrete_epoch(choice: Ep, granted: u64, model: &PlayerStore, player: &str) -> u64 {
    match choice {
        Ep::Granted => granted,
        Ep::Current => view(model, player).map_or(0, |v| v.head.epoch),
        Ep::Older => granted.saturating_sub(1),
        Ep::Newer => granted + 1,
    }
}

/// Sends `servers.last_upload` to both sides and checks the model's answer against the rules.
fn upload(
    model: &Side,
    real: &Side,
    servers: &Servers,
    at: &str,
) -> Result<(String, String), TestCaseError> {
    let (server, player, generation, epoch, recovered, data) =
        servers.last_upload.clone().expect("an upload");
    let (s, p) = (SERVERS[server], PLAYERS[player]);
    let before = view(&model.sync, p);
    let m = model.sync.upload(s, p, generation, epoch, recovered, &data);
    let r = real.sync.upload(s, p, generation, epoch, recovered, &data);
    match &m {
        Ok(UploadOutcome::Stored { snapshot }) => {
            let v = before.expect("a stored upload had a head before");
            prop_assert_eq!(v.head.epoch, epoch, "{}: stored under another epoch", at);
            prop_assert_eq!(
                v.head.generation + 1,
                generation,
                "{}: not the next generation",
                at
            );
            let lease = v.head.lease.as_ref().expect("granted");
            prop_assert_eq!(lease.holder.as_str(), s, "{}: stored from a non-holder", at);
            prop_assert_eq!(&model.sync.export(p, None).unwrap(), &data, "{}", at);
            prop_assert_eq!(
                &real.sync.export(p, Some(*snapshot)).unwrap(),
                &data,
                "{}",
                at
            );
        }
        Ok(UploadOutcome::Refused { conflict, .. }) => {
            // nothing a player carried is thrown away
            prop_assert_eq!(
                &real.sync.export(p, Some(*conflict)).unwrap(),
                &data,
                "{}",
                at
            );
        }
        _ => {}
    }
    Ok((format!("{m:?}"), format!("{r:?}")))
}

fn check(make: impl Fn() -> Arc<dyn Store>) {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let ops = prop::collection::vec(op(), 1..MAX_OPS);
    if let Err(e) = runner.run(&ops, |ops| run_case(make(), &ops)) {
        panic!("{e}");
    }
}

#[test]
fn sqlite_agrees_with_the_model_after_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicU64::new(0);
    check(|| {
        let path = dir
            .path()
            .join(format!("case{}.db", n.fetch_add(1, Ordering::Relaxed)));
        Arc::new(invsync_sync::SqliteStore::open(path).unwrap())
    });
}

#[test]
fn redis_agrees_with_the_model_after_every_step() {
    let Some(redis) = TestRedis::get("model") else {
        return;
    };
    check(|| {
        let options = invsync_sync::RedisOptions {
            cluster: support::unique("model"),
            ..redis.options()
        };
        Arc::new(invsync_sync::RedisStore::open(&redis.url, options).unwrap())
    });
}
