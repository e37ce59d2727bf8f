//! Issue 13's named cases over real processes (`invsync host` over `invsync emulator`, one
//! store), one test each, named after what it reproduces. The store-level form of several is
//! in `sync/tests/conformance.rs` (same rules, no processes); case 6 is
//! `cluster.rs::busy_then_lease_expiry_then_refused_upload_is_a_conflict` (not repeated here).
//! Every wait is bounded; nothing is timed.

use std::time::{Duration, Instant};

use invsync_harness::{
    Cluster, Options, ProxyMode, StoreChoice, WAIT, add_items, count_items, find_program,
    peers_required,
};
use invsync_player_data::SampleKind;
use invsync_sync::Cause;

fn options(name: &str, store: StoreChoice) -> Options {
    let mut o = Options::new(env!("CARGO_BIN_EXE_invsync"), name);
    o.store = store;
    o
}

macro_rules! check {
    ($c:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => panic!("{e:#}\n{}", $c.logs_tail(60)),
        }
    };
}

fn ann() -> Vec<String> {
    vec!["ann".to_string()]
}

async fn audit_clean(c: &mut Cluster) {
    let audit = c.audit().await.expect("audit");
    assert!(audit.ok(), "{}\n{}", audit.describe(), c.logs_tail(40));
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started; no memory involved.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Waits until `f` is true of ann's head.
async fn wait_head(
    c: &Cluster,
    what: &str,
    f: impl Fn(&invsync_sync::PlayerHead) -> bool,
) -> invsync_sync::PlayerHead {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(h) = c.head("ann").await.expect("head")
            && f(&h)
        {
            return h;
        }
        assert!(Instant::now() < end, "{what}\n{}", c.logs_tail(40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 1. An upload is answered, then the store is killed before anything else happens; the player
/// joins another server and gets that upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_upload_survives_the_store_killed_9_and_the_next_server_loads_it() {
    if find_program("redis-server").is_none() {
        assert!(!peers_required(), "redis-server is required here");
        eprintln!("NOTICE: skipping: redis-server is not installed");
        return;
    }
    let mut c = Cluster::start(options("n1", StoreChoice::OwnRedis))
        .await
        .expect("cluster");
    check!(c, c.seed("ann", invsync_harness::rich_data(1, "ann")).await);
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    check!(c, c.give(0, "ann", "iron-plate", 77, "normal").await);
    check!(c, c.leave(0, "ann").await);
    check!(c, c.settle(&ann(), WAIT).await);
    check!(c, c.stop_store());
    check!(c, c.start_store());
    // the harness's own connection breaks too: its first call may fail
    for _ in 0..20 {
        if c.head("ann").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the first call over a connection broken by the restart may be answered `error`: retry
    check!(c, c.join(1, "ann").await);
    check!(c, c.play_with_retries(1, "ann", WAIT).await);
    let held = check!(c, c.items(1, "ann").await);
    assert_eq!(
        held,
        c.ledger.expected("ann"),
        "B loads the answered upload"
    );
    audit_clean(&mut c).await;
}

/// A holds ann and changes her items; A's host is frozen (SIGSTOP: no heartbeat, no store
/// call) past the lease timeout while ann leaves A (the game's upload waits in the host's
/// pipe); ann plays on B. Then A's host runs again and sends its upload. `b_leaves`: ann
/// changes items on B and leaves before that.
async fn stale_holder(name: &str, b_leaves: bool) -> (Cluster, invsync_sync::PlayerHead) {
    let mut c = Cluster::start(options(name, StoreChoice::Sqlite))
        .await
        .expect("cluster");
    check!(c, c.seed("ann", invsync_harness::rich_data(2, "ann")).await);
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    check!(c, c.give(0, "ann", "copper-plate", 40, "normal").await);
    let host_a = c.nodes[0].host_pid().expect("A runs");
    signal(host_a, libc::SIGSTOP);
    check!(c, c.leave(0, "ann").await);
    tokio::time::sleep(Duration::from_millis(c.options.lease_timeout_ms + 1_500)).await;
    check!(c, c.join_and_play(1, "ann", WAIT).await);
    check!(c, c.give(1, "ann", "coal", 5, "normal").await);
    if b_leaves {
        check!(c, c.leave(1, "ann").await);
        let _ = wait_head(&c, "B's upload", |h| {
            h.generation == 2 && h.held().is_none()
        })
        .await;
    }
    signal(host_a, libc::SIGCONT);
    let head = wait_head(&c, "A's upload kept as a conflict", |h| {
        h.history.iter().any(|m| m.cause == Cause::Conflict)
    })
    .await;
    (c, head)
}

/// 2. A server cut off longer than the lease timeout; another server takes the player, who
/// changes items and leaves; the first server's upload is refused, kept as a conflict, nothing
/// merged over the newer data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cut_off_past_its_lease_has_its_upload_refused_and_kept_not_merged() {
    let (mut c, head) = stale_holder("n2", true).await;
    let b = c.nodes[1].id.clone();
    assert_eq!(head.generation, 2);
    let current = head.snapshot(head.current.unwrap()).unwrap();
    assert_eq!(
        (current.server.as_str(), current.cause),
        (b.as_str(), Cause::Upload)
    );
    let conflict = head
        .history
        .iter()
        .find(|m| m.cause == Cause::Conflict)
        .unwrap();
    assert_eq!(conflict.server, c.nodes[0].id);
    assert!(conflict.pinned);
    // the stored data is B's: seeded + coal, without A's copper
    let stored = count_items(&check!(c, c.export("ann", None).await)).unwrap();
    let mut want = c.ledger.expected("ann");
    add_items(&mut want, "copper-plate", "normal", -40);
    assert_eq!(stored, want);
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 3. A refused upload does not end another server's hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_does_not_end_another_servers_hold() {
    let (mut c, head) = stale_holder("n3", false).await;
    let b = c.nodes[1].id.clone();
    assert_eq!(head.held().map(|l| l.holder.as_str()), Some(b.as_str()));
    let (_, s) = check!(c, c.wait_state(1, "ann", &["playing"], WAIT).await);
    assert_eq!(s.state(), "playing");
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 4. A save that finishes after a newer one does not overwrite it (HuskSync #726, #654): A's
/// generation-2 save arrives after B stored its own generation 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_finishing_after_a_newer_one_does_not_overwrite_it() {
    let (mut c, head) = stale_holder("n4", true).await;
    let conflict = head
        .history
        .iter()
        .find(|m| m.cause == Cause::Conflict)
        .unwrap();
    assert_eq!(
        conflict.generation, 2,
        "A's late save is a generation 2 too"
    );
    assert_eq!(head.generation, 2);
    assert_eq!(
        head.snapshot(head.current.unwrap()).unwrap().server,
        c.nodes[1].id
    );
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 5. The player leaves a slow server (5 ticks per second) and joins another one second later:
/// the new server waits or says busy, never loads an older copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_slow_server_and_joining_another_a_second_later_never_loads_an_older_copy() {
    let mut c = Cluster::start(options("n5", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    check!(c, c.slow_game(0, 5).await);
    check!(c, c.seed("ann", invsync_harness::rich_data(5, "ann")).await);
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    check!(c, c.give(0, "ann", "stone", 31, "normal").await);
    check!(c, c.leave(0, "ann").await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    check!(c, c.join(1, "ann").await);
    check!(c, c.play_with_retries(1, "ann", WAIT).await);
    assert_eq!(
        check!(c, c.items(1, "ann").await),
        c.ledger.expected("ann"),
        "B has what ann had on the slow server"
    );
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 7. The store commits an upload but the answer is lost; the player plays on another server
/// meanwhile; the game sends the upload again: answered as a repeat, no second generation, no
/// endless retries.
///
/// The upload is small, so it leaves the game on stdout; the answer goes back over RCON, which a
/// proxy stalls (and then cuts, losing what it held). The game's retries (every 5 s, doubling)
/// reach the host on stdout and are stored as repeats while the answers stay lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_answer_is_lost_is_repeated_idempotently_while_the_player_is_elsewhere() {
    let mut c = Cluster::start(options("n7", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    let proxy = check!(c, c.proxy_rcon(0).await);
    let data = invsync_harness::sample_data(SampleKind::Small, 7, "ann");
    assert!(
        data.len() < 3000,
        "the upload must fit one stdout frame: {} bytes",
        data.len()
    );
    check!(c, c.seed("ann", data).await);
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    check!(c, c.give(0, "ann", "iron-plate", 12, "normal").await);
    proxy.set(ProxyMode::Stall);
    check!(c, c.leave(0, "ann").await);
    wait_head(&c, "A's upload stored", |h| h.generation == 2).await;
    // ann plays on B while A's answer is held
    check!(c, c.join_and_play(1, "ann", WAIT).await);
    let repeats = |text: &str| {
        invsync_harness::metric_sum(text, "invsync_uploads_total", &[("result", "repeat")])
    };
    let end = Instant::now() + WAIT;
    loop {
        let text = check!(c, c.nodes[0].metrics_text().await);
        if repeats(&text) >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "A's game never sent its upload again\n{}",
            c.logs_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(check!(c, c.state(0, "ann").await).upload_pending());
    // the held answers are lost with the connection; the next ones get through
    proxy.cut();
    proxy.set(ProxyMode::Pass);
    let end = Instant::now() + WAIT;
    while check!(c, c.state(0, "ann").await).upload_pending() {
        assert!(Instant::now() < end, "A keeps its upload pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = check!(c, c.head("ann").await).unwrap();
    assert_eq!(head.generation, 2, "no second generation: {head:?}");
    let a = c.nodes[0].id.clone();
    assert_eq!(
        head.history
            .iter()
            .filter(|m| m.server == a && m.cause != Cause::AdminImport)
            .count(),
        1,
        "one snapshot from A: {:?}",
        head.history
    );
    assert!(!head.history.iter().any(|m| m.cause == Cause::Conflict));
    assert_eq!(
        head.lease.as_ref().map(|l| l.holder.as_str()),
        Some(c.nodes[1].id.as_str()),
        "B still holds ann"
    );
    // no endless retries: once answered, A sends nothing more
    let settled = repeats(&check!(c, c.nodes[0].metrics_text().await));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        repeats(&check!(c, c.nodes[0].metrics_text().await)),
        settled,
        "A's game kept sending its upload after the answer arrived"
    );
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 8. A host is stopped while three players leave and one is still downloading: every leave is
/// stored before the host exits; the downloading player's hold is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_stopped_while_three_leave_and_one_downloads_stores_every_leave_and_releases_the_download()
 {
    let mut c = Cluster::start(options("n8", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    let names = ["ann", "bob", "cyd"];
    for p in names {
        check!(c, c.join_and_play(0, p, WAIT).await);
        check!(c, c.give(0, p, "coal", 9, "normal").await);
    }
    let big = invsync_harness::sample_data(SampleKind::Huge, 8, "dan");
    check!(c, c.seed("dan", big).await);
    check!(c, c.join(0, "dan").await);
    check!(
        c,
        c.wait_state(0, "dan", &["downloading", "applying", "playing"], WAIT)
            .await
    );
    for p in names {
        check!(c, c.leave(0, p).await);
    }
    let status = check!(c, c.nodes[0].stop(WAIT).await);
    assert!(status.success(), "{status:?}");
    c.online.clear();
    for p in names.iter().chain(&["dan"]) {
        let head = check!(c, c.head(p).await).unwrap();
        assert!(
            head.held().is_none(),
            "{p} is not left held: {:?}",
            head.lease
        );
    }
    audit_clean(&mut c).await;
}

/// 9. The destination cannot apply the data (an unknown item): nothing partial is uploaded over
/// the good data, and the hold is released when the player leaves (Clusterio #912, #975). The
/// game keeps the stacks it cannot place and every upload carries them (PLAYER_DATA
/// `unplaced`), so the stored data still holds the 7 unknown items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_the_destination_cannot_apply_is_never_uploaded_partially_and_the_hold_ends() {
    let mut c = Cluster::start(options("n9", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    let mut p =
        invsync_player_data::PlayerData::from_json(&invsync_harness::rich_data(9, "ann")).unwrap();
    p.inventories.main.push(invsync_player_data::Stack {
        slot: Some(200),
        ..invsync_player_data::Stack::plain(0, "no-such-item-in-this-game", 7)
    });
    let data = p.to_json().into_bytes();
    check!(c, c.seed("ann", data.clone()).await);
    check!(c, c.join(0, "ann").await);
    let (_, s) = check!(
        c,
        c.wait_state(0, "ann", &["playing", "failed", "temporary"], WAIT)
            .await
    );
    let gui = check!(c, c.gui_text(0, "ann").await);
    check!(c, c.leave(0, "ann").await);
    check!(c, c.settle(&ann(), WAIT).await);
    let head = check!(c, c.head("ann").await).unwrap();
    assert!(head.held().is_none(), "the hold ended: {:?}", head.lease);
    let stored = count_items(&check!(c, c.export("ann", None).await)).unwrap();
    assert_eq!(
        stored.get(&("no-such-item-in-this-game".into(), "normal".into())),
        Some(&7),
        "the unknown item is still stored (state {}, {gui:?}); history {:?}",
        s.state(),
        head.history
    );
}

/// 10. Two servers acquire the same player at the same moment: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_acquiring_one_player_at_the_same_moment_one_wins() {
    let mut c = Cluster::start(options("n10", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    check!(
        c,
        c.seed("ann", invsync_harness::rich_data(10, "ann")).await
    );
    let (ra, rb) = check!(c, c.join_both(0, 1, "ann").await);
    assert_eq!((ra.as_str(), rb.as_str()), ("ok", "ok"));
    let (_, sa) = check!(
        c,
        c.wait_state(0, "ann", &["playing", "failed"], WAIT).await
    );
    let (_, sb) = check!(
        c,
        c.wait_state(1, "ann", &["playing", "failed"], WAIT).await
    );
    let states = [sa.state().to_string(), sb.state().to_string()];
    assert_eq!(
        states.iter().filter(|s| *s == "playing").count(),
        1,
        "{states:?}"
    );
    let winner = if states[0] == "playing" { 0 } else { 1 };
    let head = check!(c, c.head("ann").await).unwrap();
    assert_eq!(
        head.held().map(|l| l.holder.clone()),
        Some(c.nodes[winner].id.clone())
    );
    check!(c, c.leave(1 - winner, "ann").await);
    c.online.insert("ann".into(), winner);
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 11. An admin imports an inventory while the player is online: the holder's later upload
/// does not overwrite it or bring old items back (HuskSync #533).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_import_while_online_is_not_overwritten_by_the_holders_upload() {
    let mut c = Cluster::start(options("n11", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    check!(
        c,
        c.seed("ann", invsync_harness::rich_data(11, "ann")).await
    );
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    check!(c, c.give(0, "ann", "steel-plate", 8, "rare").await);
    let admin = invsync_harness::sample_data(SampleKind::Small, 99, "ann");
    let g = check!(c, c.import_online("ann", admin.clone()).await);
    check!(c, c.leave(0, "ann").await);
    let head = wait_head(&c, "the holder's upload refused", |h| {
        h.history.iter().any(|m| m.cause == Cause::Conflict)
    })
    .await;
    assert_eq!(head.generation, g, "the admin's generation stays");
    assert_eq!(check!(c, c.export("ann", None).await), admin);
    check!(c, c.settle(&ann(), WAIT).await);
    audit_clean(&mut c).await;
}

/// 12. A large record: the player leaves mid-download and joins another server; the first
/// server receives the last frames later: nothing is applied there, the stored copy is
/// unchanged. (The record is the `huge` sample, over 1 MB, not 5 MB.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_frames_of_a_download_left_midway_apply_nothing_and_change_nothing_stored() {
    let mut c = Cluster::start(options("n12", StoreChoice::Sqlite))
        .await
        .expect("cluster");
    let proxy = check!(c, c.proxy_rcon(0).await);
    let data = invsync_harness::sample_data(SampleKind::Huge, 12, "ann");
    check!(c, c.seed("ann", data.clone()).await);
    check!(c, c.join(0, "ann").await);
    check!(c, c.wait_state(0, "ann", &["downloading"], WAIT).await);
    proxy.set(ProxyMode::Stall);
    check!(c, c.leave(0, "ann").await);
    let _ = wait_head(&c, "A's hold ends", |h| h.held().is_none()).await;
    check!(c, c.join_and_play(1, "ann", WAIT).await);
    proxy.set(ProxyMode::Pass);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = check!(c, c.state(0, "ann").await);
    assert!(!s.upload_pending() && s.state() != "playing", "{}", s.json);
    check!(c, c.leave(1, "ann").await);
    check!(c, c.settle(&ann(), WAIT).await);
    let head = check!(c, c.head("ann").await).unwrap();
    assert!(
        !head.history.iter().any(|m| m.server == c.nodes[0].id),
        "nothing from A: {:?}",
        head.history
    );
    audit_clean(&mut c).await;
}
