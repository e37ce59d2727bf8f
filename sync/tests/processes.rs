//! Races and durability on the real stores, with real threads and real OS processes.
//!
//! * Races: many threads, each with its own connection, and two OS processes (this test binary
//!   run again as a child, see [`zz_child_process_role`]) acquire the same players at once on
//!   one SQLite file and on one Redis: exactly one gets each player.
//! * Durability: uploads are answered, then the store's process is killed with SIGKILL and the
//!   store is opened again: every answered upload is there. For Redis the killed process is a
//!   `redis-server` with its append-only file (fsync always), restarted on the same directory;
//!   for SQLite it is the child process that wrote the file, killed right after it printed its
//!   answers.

mod support;

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdout};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use invsync_sync::{
    Acquired, PlayerStore, RedisOptions, RedisStore, Settings, SqliteStore, Store, UploadOutcome,
};
use support::{ROLE, TestRedis, arg, read_until, role, spawn_role};

const CHILD: &str = "zz_child_process_role";

fn sync_over(store: Arc<dyn Store>) -> PlayerStore {
    PlayerStore::new(store, Settings::default())
}

/// PLAYER_DATA of some 40 kB that compresses poorly, distinct per `i`.
fn big_data(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pad: String = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    format!(r#"{{"format":1,"name":"p{i}","pad":"{pad}"}}"#).into_bytes()
}

fn open_kind(kind: &str, store: &str, cluster: &str) -> Arc<dyn Store> {
    match kind {
        "sqlite" => Arc::new(SqliteStore::open(store).expect("open SQLite")),
        "redis" => Arc::new(
            RedisStore::open(
                store,
                RedisOptions {
                    cluster: cluster.to_string(),
                    ..RedisOptions::default()
                },
            )
            .expect("open Redis"),
        ),
        other => panic!("unknown store kind {other}"),
    }
}

/// Not a test of its own: the entry point of the child processes the tests below start (it
/// does nothing in a normal run).
#[test]
fn zz_child_process_role() {
    let Some(role) = role() else { return };
    let store = open_kind(
        &arg("INVSYNC_SYNC_KIND"),
        &arg("INVSYNC_SYNC_STORE"),
        &std::env::var("INVSYNC_SYNC_CLUSTER").unwrap_or_default(),
    );
    let sync = sync_over(store);
    let server = arg("INVSYNC_SYNC_SERVER");
    let count: u64 = arg("INVSYNC_SYNC_COUNT").parse().expect("count");
    let mut out = std::io::stdout().lock();
    // libtest has written "test zz_child_process_role ... " without a newline: end that line
    writeln!(out).unwrap();
    match role.as_str() {
        "race" => {
            // one round per player: the parent starts both processes on it together
            for i in 0..count {
                writeln!(out, "READY {i}").unwrap();
                out.flush().unwrap();
                support::wait_for_parent();
                let line = match sync
                    .acquire(&server, &format!("p{i}"), 1, 0, false, false)
                    .unwrap()
                {
                    Acquired::Acquired { epoch, .. } => format!("p{i} acquired {epoch}"),
                    Acquired::Busy { holder, .. } => format!("p{i} busy {holder}"),
                };
                writeln!(out, "{line}").unwrap();
            }
        }
        "upload" => {
            for i in 0..count {
                let player = format!("p{i}");
                let Acquired::Acquired {
                    generation, epoch, ..
                } = sync.acquire(&server, &player, 1, 0, false, false).unwrap()
                else {
                    panic!("{player} is held")
                };
                let data = big_data(i);
                let out_come = sync
                    .upload(&server, &player, generation + 1, epoch, false, &data)
                    .unwrap();
                assert!(matches!(out_come, UploadOutcome::Stored { .. }));
                // the answer the game would get, only now that upload() returned
                writeln!(out, "UPLOADED {i}").unwrap();
                out.flush().unwrap();
            }
            writeln!(out, "ALL").unwrap();
            out.flush().unwrap();
            // wait to be killed (bounded: a parent that never kills lets it end)
            for _ in 0..600 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn child(role: &str, kind: &str, store: &str, cluster: &str, server: &str, count: u64) -> Child {
    spawn_role(
        CHILD,
        &[
            (ROLE, role.to_string()),
            ("INVSYNC_SYNC_KIND", kind.to_string()),
            ("INVSYNC_SYNC_STORE", store.to_string()),
            ("INVSYNC_SYNC_CLUSTER", cluster.to_string()),
            ("INVSYNC_SYNC_SERVER", server.to_string()),
            ("INVSYNC_SYNC_COUNT", count.to_string()),
        ],
    )
}

// races ----------------------------------------------------------------------------------

/// `threads` threads, each with its own connection (`open`), acquire each of `rounds` players
/// at the same moment; exactly one gets each.
fn threads_race(open: impl Fn() -> Arc<dyn Store> + Sync, threads: usize, rounds: usize) {
    let syncs: Vec<PlayerStore> = (0..threads).map(|_| sync_over(open())).collect();
    for round in 0..rounds {
        let player = format!("race{round}");
        let barrier = Barrier::new(threads);
        let answers: Vec<Acquired> = std::thread::scope(|scope| {
            let handles: Vec<_> = syncs
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let (barrier, player) = (&barrier, &player);
                    scope.spawn(move || {
                        barrier.wait();
                        s.acquire(&format!("server{i}"), player, 1, 0, false, false)
                            .expect("acquire")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..threads)
            .filter(|i| matches!(answers[*i], Acquired::Acquired { epoch: 1, .. }))
            .collect();
        assert_eq!(winners.len(), 1, "{player}: {answers:?}");
        let winner = format!("server{}", winners[0]);
        assert!(
            answers
                .iter()
                .filter(|a| matches!(a, Acquired::Busy { holder, .. } if *holder == winner))
                .count()
                == threads - 1,
            "{player}: {answers:?}"
        );
        let head = syncs[0].show(&player).unwrap().head;
        assert_eq!(head.epoch, 1, "one grant, one epoch");
        assert_eq!(head.held().unwrap().holder, winner);
    }
}

#[test]
fn many_threads_race_for_one_player_on_sqlite_and_one_wins() {
    let db = support::Sqlite::new();
    threads_race(|| Arc::new(SqliteStore::open(&db.path).unwrap()), 12, 6);
}

#[test]
fn many_threads_race_for_one_player_on_redis_and_one_wins() {
    let Some(redis) = TestRedis::get("threads-race") else {
        return;
    };
    threads_race(|| Arc::new(redis.store()), 12, 6);
}

/// Two processes acquire the same `count` players as fast as they can, started together.
fn two_processes_race(kind: &str, store: &str, cluster: &str) {
    const COUNT: u64 = 40;
    let servers = ["north", "south"];
    let mut kids: Vec<Child> = servers
        .iter()
        .map(|s| child("race", kind, store, cluster, s, COUNT))
        .collect();
    let mut outs: Vec<BufReader<ChildStdout>> = kids
        .iter_mut()
        .map(|k| BufReader::new(k.stdout.take().unwrap()))
        .collect();
    let mut lines: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for i in 0..COUNT {
        for out in &mut outs {
            read_until(out, &format!("READY {i}")).expect("the child got ready");
        }
        for kid in &mut kids {
            writeln!(kid.stdin.as_mut().unwrap(), "go").unwrap();
        }
        for (out, mine) in outs.iter_mut().zip(&mut lines) {
            mine.push(read_until(out, &format!("p{i} ")).expect("the child answers"));
        }
    }
    for kid in &mut kids {
        assert!(kid.wait().unwrap().success(), "a racing child failed");
    }
    let north = lines[0].iter().filter(|l| l.contains("acquired")).count();
    eprintln!(
        "{kind}: north won {north} of {COUNT}, south {}",
        COUNT as usize - north
    );
    for i in 0..COUNT as usize {
        let said: Vec<&str> = lines.iter().map(|l| l[i].as_str()).collect();
        let won: Vec<usize> = (0..2).filter(|k| said[*k].contains("acquired")).collect();
        assert_eq!(won.len(), 1, "p{i}: {said:?}");
        let (w, l) = (won[0], 1 - won[0]);
        assert_eq!(said[w], format!("p{i} acquired 1"));
        assert_eq!(said[l], format!("p{i} busy {}", servers[w]));
    }
}

#[test]
fn two_processes_race_for_the_same_players_on_one_sqlite_file_and_one_wins_each() {
    let db = support::Sqlite::new();
    two_processes_race("sqlite", db.path.to_str().unwrap(), "");
}

#[test]
fn two_processes_race_for_the_same_players_on_one_redis_and_one_wins_each() {
    let Some(redis) = TestRedis::get("process-race") else {
        return;
    };
    two_processes_race("redis", &redis.url, &redis.cluster);
}

/// `threads` servers, each with its own connection, run whole sync cycles on one player as
/// fast as they can: every cycle a server gets is stored as the next generation, no two
/// uploads are ever stored as one generation, and every stored one reads back as sent.
fn concurrent_cycles(open: impl Fn() -> Arc<dyn Store> + Sync, threads: usize, cycles: usize) {
    let syncs: Vec<PlayerStore> = (0..threads).map(|_| sync_over(open())).collect();
    let barrier = Barrier::new(threads);
    let stored: Vec<(u64, u64, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = syncs
            .iter()
            .enumerate()
            .map(|(t, s)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let server = format!("server{t}");
                    let mut mine = Vec::new();
                    barrier.wait();
                    for attempt in 0..100_000u64 {
                        if mine.len() == cycles {
                            break;
                        }
                        let Acquired::Acquired {
                            generation, epoch, ..
                        } = s
                            .acquire(&server, "shared", attempt, 0, false, false)
                            .unwrap()
                        else {
                            std::thread::yield_now();
                            continue;
                        };
                        let data = format!(r#"{{"format":1,"by":"{server}","n":{attempt}}}"#);
                        let out = s
                            .upload(
                                &server,
                                "shared",
                                generation + 1,
                                epoch,
                                false,
                                data.as_bytes(),
                            )
                            .unwrap();
                        let UploadOutcome::Stored { snapshot } = out else {
                            panic!("{server} held the player and was refused: {out:?}")
                        };
                        mine.push((generation + 1, snapshot, data.into_bytes()));
                    }
                    assert_eq!(mine.len(), cycles, "{server} starved");
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let total = (threads * cycles) as u64;
    let mut generations: Vec<u64> = stored.iter().map(|(g, ..)| *g).collect();
    generations.sort_unstable();
    assert_eq!(
        generations,
        (1..=total).collect::<Vec<_>>(),
        "one upload per generation"
    );
    let s = &syncs[0];
    let head = s.show("shared").unwrap().head;
    assert_eq!(head.generation, total);
    for (generation, snapshot, data) in &stored {
        if let Some(meta) = head.snapshot(*snapshot) {
            assert_eq!(meta.generation, *generation);
            assert_eq!(&s.export("shared", Some(*snapshot)).unwrap(), data);
        }
    }
}

#[test]
fn concurrent_cycles_on_sqlite_store_each_upload_as_its_own_generation() {
    let db = support::Sqlite::new();
    concurrent_cycles(|| Arc::new(SqliteStore::open(&db.path).unwrap()), 6, 8);
}

#[test]
fn concurrent_cycles_on_redis_store_each_upload_as_its_own_generation() {
    let Some(redis) = TestRedis::get("concurrent-cycles") else {
        return;
    };
    concurrent_cycles(|| Arc::new(redis.store()), 6, 8);
}

// durability -----------------------------------------------------------------------------

/// Checks that every upload in `answered` is stored as generation 1 with its exact data.
fn all_there(store: Arc<dyn Store>, answered: &[u64]) {
    let sync = sync_over(store);
    for i in answered {
        let player = format!("p{i}");
        let view = sync
            .show(&player)
            .unwrap_or_else(|e| panic!("{player}: {e}"));
        assert_eq!(view.head.generation, 1, "{player}");
        assert_eq!(
            sync.export(&player, None).unwrap(),
            big_data(*i),
            "{player}"
        );
    }
}

/// The anchor's bug (Clusterio answers an upload before it is on disk) on SQLite: a process
/// answers uploads one after the other and is killed with SIGKILL; every upload it answered
/// is in the file.
#[test]
fn an_answer_is_sent_only_once_the_upload_is_durable_sqlite_writer_killed_9() {
    let db = support::Sqlite::new();
    let mut kid = child(
        "upload",
        "sqlite",
        db.path.to_str().unwrap(),
        "",
        "north",
        200,
    );
    let mut out = BufReader::new(kid.stdout.take().unwrap());
    let mut answered = Vec::new();
    while answered.len() < 12 {
        let line = read_until(&mut out, "UPLOADED ").expect("the child answers uploads");
        answered.push(line["UPLOADED ".len()..].parse::<u64>().unwrap());
    }
    kid.kill().expect("SIGKILL the writer"); // Child::kill is SIGKILL on Unix
    kid.wait().unwrap();
    // what it printed before it died was answered too
    while let Some(line) = read_until(&mut out, "UPLOADED ") {
        answered.push(line["UPLOADED ".len()..].parse::<u64>().unwrap());
    }
    assert!(answered.len() < 200, "killed before it finished");
    eprintln!("{} uploads answered before the kill", answered.len());
    all_there(Arc::new(SqliteStore::open(&db.path).unwrap()), &answered);
}

/// The same on Redis: uploads are answered while `redis-server` (append-only file, fsync
/// always) is killed with SIGKILL; after a restart on the same directory every answered upload
/// is there.
#[test]
fn an_answer_is_sent_only_once_the_upload_is_durable_redis_server_killed_9() {
    let test = "redis-kill-9";
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = support::start_redis(test, dir.path(), &[]) else {
        return;
    };
    let url = server.url();
    let options = RedisOptions {
        cluster: support::unique(test),
        timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    };
    let store = RedisStore::open(&url, options.clone()).unwrap();
    assert_eq!(store.durability_warning(), None, "this server is durable");
    let sync = sync_over(Arc::new(store));
    let (tx, rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        for i in 0..2_000u64 {
            let player = format!("p{i}");
            let answer = sync
                .acquire("north", &player, 1, 0, false, false)
                .and_then(|a| match a {
                    Acquired::Acquired {
                        generation, epoch, ..
                    } => sync.upload("north", &player, generation + 1, epoch, false, &big_data(i)),
                    busy => panic!("{busy:?}"),
                });
            match answer {
                Ok(UploadOutcome::Stored { .. }) => tx.send(i).unwrap(),
                Ok(other) => panic!("{other:?}"),
                Err(_) => return, // the server died
            }
        }
    });
    let mut answered = Vec::new();
    while answered.len() < 12 {
        answered.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("the writer answers uploads"),
        );
    }
    server.kill9();
    writer.join().unwrap();
    answered.extend(rx.try_iter());
    assert!(answered.len() < 2_000, "killed before it finished");
    eprintln!("{} uploads answered before the kill", answered.len());
    server.restart().expect("restart redis-server");
    let store = RedisStore::open(&server.url(), options).unwrap();
    all_there(Arc::new(store), &answered);
}

/// A store opened before `redis-server` died works again once it is back: the failed
/// requests are `Unavailable` (the host retries them), and none is lost or half done.
#[test]
fn a_redis_store_works_again_after_redis_server_restarts() {
    let test = "redis-restart";
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = support::start_redis(test, dir.path(), &[]) else {
        return;
    };
    let options = RedisOptions {
        cluster: support::unique(test),
        ..RedisOptions::default()
    };
    let sync = sync_over(Arc::new(RedisStore::open(&server.url(), options).unwrap()));
    // several pooled connections, all of which the restart breaks
    std::thread::scope(|scope| {
        for t in 0..4 {
            let sync = &sync;
            scope.spawn(move || {
                sync.acquire(&format!("s{t}"), &format!("p{t}"), 1, 0, false, false)
                    .unwrap()
            });
        }
    });
    server.restart().expect("restart redis-server");
    let mut failures = 0;
    let answer = loop {
        match sync.acquire("s0", "p0", 2, 0, false, false) {
            Ok(a) => break a,
            Err(e) => {
                assert!(
                    matches!(e, invsync_sync::StoreError::Unavailable(_)),
                    "a broken connection is reported as unavailable: {e}"
                );
                failures += 1;
                assert!(failures <= 8, "the store does not recover: {e}");
            }
        }
    };
    // the grant from before the restart was durable: s0 still holds p0 under epoch 1
    assert!(
        matches!(answer, Acquired::Acquired { epoch: 1, .. }),
        "{answer:?}"
    );
    assert!(matches!(
        sync.acquire("s9", "p1", 1, 0, false, false).unwrap(),
        Acquired::Busy { .. }
    ));
}
