//! The tokio `Link` against the emulator running the scenario module (PROTOCOL.md 5.3-5.5):
//! RCON over loopback TCP with the emulator's faults, and a real pipe for the server's stdout.
#![cfg(unix)]

use std::future::Future;
use std::time::Duration;

use invsync_codec::{
    Capabilities, EncodeOptions, Method, MethodChoice, ReassemblerConfig, decode_message, encode,
};
use invsync_emulator::{FaultAction, RconFault};
use invsync_host::{
    Confirmation, Incoming, Link, LinkOptions, Path, ReceivedMessage, ToHostPlan, ToHostPolicy,
    plan_to_host,
};
use invsync_rcon_transport::ClientConfig;
use invsync_test_support::game::{GameSetup, TestGame};
use invsync_test_support::xorshift::{XorShift64, noise as printable_noise};
use tokio::sync::mpsc;

const PASSWORD: &str = "link-pw";
/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);
/// The module's settings these tests depend on (scenario/invsync/settings.lua): frames it
/// stages for a pull, and the largest payload it deflates.
const PULL_MAX_FRAME: usize = 65536;
const ZLIB_MAX: usize = 16384;

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn options(first_id: u32) -> LinkOptions {
    LinkOptions {
        first_message_id: Some(first_id),
        ..LinkOptions::default()
    }
}

fn rcon(game: &TestGame) -> ClientConfig {
    let mut rcon = ClientConfig::new(game.address(), PASSWORD);
    rcon.connection.command_timeout = Duration::from_millis(1500);
    rcon.backoff.initial = Duration::from_millis(20);
    rcon
}

async fn connect(game: &TestGame, options: LinkOptions) -> (Link, mpsc::Receiver<Incoming>) {
    bounded(
        "connect",
        Link::connect(rcon(game), game.take_stdout(), options),
    )
    .await
    .unwrap()
}

/// A game whose commands stream fast: payloads of a megabyte go into it in a few hundred ticks
/// (what these tests send the host is not about the command stream).
fn fast_game(faults: Vec<RconFault>) -> TestGame {
    let mut setup = GameSetup::new(PASSWORD);
    setup.args.maximum_segment_size = 20_000;
    setup.args.rcon_faults = faults;
    TestGame::start(setup)
}

/// Printable text that does not deflate: its size decides the frames and the route.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    printable_noise(
        len,
        &mut XorShift64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
    )
}

fn repetitive(len: usize) -> Vec<u8> {
    br#"{"name":"iron-plate","count":100},"#.iter().copied().cycle().take(len).collect()
}

/// The next application message, collecting the other events on the way.
async fn next_message(
    incoming: &mut mpsc::Receiver<Incoming>,
    others: &mut Vec<Incoming>,
) -> ReceivedMessage {
    bounded("a message from the game", async {
        loop {
            match incoming.recv().await.expect("link ended") {
                Incoming::Message(m) => return m,
                other => others.push(other),
            }
        }
    })
    .await
}

/// Each call's arguments once: true when none repeats.
fn all_distinct(calls: &[String]) -> bool {
    let mut distinct = calls.to_vec();
    distinct.sort();
    distinct.dedup();
    distinct.len() == calls.len()
}

/// The module's route to the host (scenario/invsync/settings.lua): payloads up to `zlib_max`
/// may go deflated, larger ones raw; one stdout frame of 3999 bytes or staged in frames of
/// `pull_max_frame`. `ToHostPolicy::default()` knows neither `zlib_max` nor the module's
/// smaller pull frames.
fn module_policy(payload_len: usize) -> ToHostPolicy {
    ToHostPolicy {
        max_frame_pull: PULL_MAX_FRAME,
        methods: if payload_len <= ZLIB_MAX {
            vec![Method::Raw, Method::Zlib]
        } else {
            vec![Method::Raw]
        },
        ..ToHostPolicy::default()
    }
}

/// The frames the module stages for `payload`.
fn staged_frames(id: u32, payload: &[u8]) -> usize {
    match plan_to_host(id, payload, &module_policy(payload.len())).unwrap() {
        ToHostPlan::Staged(e) => e.frames.len(),
        ToHostPlan::Inline(_) => panic!("{} bytes go inline", payload.len()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_to_game_survives_reordered_execution_and_lost_replies() {
    // Lost replies: two chunks of the first message, and the only chunk of the third (so
    // nothing but a status query or the module's report can tell its outcome). The game runs
    // short commands before long ones that arrived earlier.
    let mut setup = GameSetup::new(PASSWORD);
    // The module declares the short header (PROTOCOL.md 2.5): a chunk of message 1000 holds
    // `RAAAAPo` (its kind, then its id in base 64), message 1002's one frame `rAAAAPq`; the
    // chunks of a message go out in index order.
    setup.args.rcon_faults = vec![
        RconFault::new(FaultAction::LoseReply, "RAAAAPo", 3),
        RconFault::new(FaultAction::LoseReply, "RAAAAPo", 11),
        RconFault::new(FaultAction::LoseReply, "rAAAAPq", 1),
    ];
    let game = TestGame::start(setup);
    let (link, _incoming) = connect(&game, options(1000)).await;
    let payloads = [
        noise(20_000, 1),
        repetitive(60_000),
        br#"{"type":"hello"}"#.to_vec(),
    ];
    let mut pending = Vec::new();
    for p in &payloads {
        pending.push(link.submit(p.clone()).await.unwrap());
    }
    assert_eq!(
        pending.iter().map(|p| p.id()).collect::<Vec<_>>(),
        [1000, 1001, 1002]
    );
    let mut delivered = Vec::new();
    for p in pending {
        delivered.push(bounded("delivery", p.outcome()).await.unwrap());
    }
    for (d, payload) in delivered.iter().zip(&payloads) {
        game.assert_received_once(d.id, payload);
        assert_eq!(d.chunks_resent, 0, "{d:?}");
    }
    // Routing into the game: the smallest method the game declares, 16 streams.
    assert_eq!(delivered[0].method, Method::Raw, "noise does not deflate");
    assert_eq!(delivered[0].frames, 16);
    // 60 kB that compress to a few hundred bytes: cut into frames of a tick or two each, and
    // the method whose frames are the fewest bytes then (lz4 here: every zlib chunk is a
    // stream with its own header and checksum).
    assert_ne!(delivered[1].method, Method::Raw);
    assert!(delivered[1].wire_len < 1_000, "{:?}", delivered[1]);
    assert_eq!(
        delivered[2].method,
        Method::Raw,
        "short text: raw beats base64"
    );
    // The lost replies were settled by the module's report or a status query, not by resending
    // chunks.
    assert_ne!(
        delivered[2].confirmed_by,
        Confirmation::Done,
        "its reply was lost"
    );
    if delivered[2].confirmed_by == Confirmation::Status {
        assert!(!game.calls("status").is_empty());
    }
    let recvs = game.calls("recv");
    assert_eq!(
        recvs.len(),
        16 + delivered[1].frames as usize + 1,
        "{recvs:?}"
    );
    assert!(all_distinct(&recvs), "no chunk was sent twice: {recvs:?}");
}

/// Delivers 12 kB whose second `recv` is damaged on the way; the delivery and the recv calls
/// the game took.
async fn deliver_with_a_damaged_frame() -> (invsync_host::Delivered, Vec<String>) {
    let mut setup = GameSetup::new(PASSWORD);
    // "recv" is in both entries: the custom command the module declares, `/invsync-recv`
    setup.args.rcon_faults = vec![RconFault::new(FaultAction::Damage, "recv", 2)];
    let game = TestGame::start(setup);
    let (link, _incoming) = connect(&game, options(1)).await;
    let payload = noise(12_000, 2);
    let d = bounded("delivery", link.send(payload.clone()))
        .await
        .unwrap();
    game.assert_received_once(d.id, &payload);
    (d, game.calls("recv"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_frame_is_resent() {
    let (d, recvs) = deliver_with_a_damaged_frame().await;
    // The module drops the frame that fails its deferred check (PROTOCOL.md 3): the chunk is
    // missing again, and it is sent again.
    let damaged = &recvs[1];
    assert_eq!(
        recvs.iter().filter(|r| *r == damaged).count(),
        2,
        "{d:?}: {recvs:?}"
    );
}

/// PROTOCOL.md 5.3: "a host that asks `status` resends it", the one chunk, not the whole
/// message (the link once took `missing` after every chunk was answered as chunks lost in a
/// restart and sent all 16 again; the mock game's stand-in rejected a damaged frame at once,
/// so only the real, deferring, module showed it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_frame_costs_one_chunk() {
    let (d, recvs) = deliver_with_a_damaged_frame().await;
    assert_eq!(d.chunks_resent, 1, "{d:?}");
    assert_eq!(recvs.len(), 17, "{recvs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_verification_is_confirmed_by_the_report_on_stdout() {
    // The module verifies a message on its tick and reports it on stdout.
    let game = TestGame::start(GameSetup::new(PASSWORD));
    let (link, _incoming) = connect(&game, options(10)).await;
    for (i, payload) in [noise(9_000, 3), repetitive(30_000)]
        .into_iter()
        .enumerate()
    {
        let d = bounded("delivery", link.send(payload.clone()))
            .await
            .unwrap();
        assert_eq!(d.confirmed_by, Confirmation::Stdout, "{d:?}");
        assert_eq!(d.id, 10 + i as u32);
        game.assert_received_once(d.id, &payload);
    }
}

/// Whether a stdout line is the module's `received` report of message `id`.
fn is_report_of(line: &[u8], id: u32) -> bool {
    let Some(frame) = line.strip_prefix(b"\x0c") else {
        return false;
    };
    let frame = frame.trim_ascii_end().to_vec();
    let Ok(frame) = String::from_utf8(frame) else {
        return false;
    };
    decode_message(vec![frame], ReassemblerConfig::default()).is_ok_and(|m| {
        let text = String::from_utf8_lossy(&m.payload);
        text.contains(r#""type":"received""#) && text.contains(&format!(r#""id":{id},"#))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reports_the_link_asks_status_and_forged_reports_are_ignored() {
    let game = TestGame::start(GameSetup::new(PASSWORD));
    let mut opts = options(5000);
    opts.link.verify_after = Duration::from_millis(300);
    // The module's report of 5000 is lost on the way to the host.
    let stdout = game.take_stdout_filtered(|line| !is_report_of(line, 5000));
    let (link, _incoming) = bounded("connect", Link::connect(rcon(&game), stdout, opts))
        .await
        .unwrap();
    let pending = link.submit(noise(6_000, 4)).await.unwrap();
    assert_eq!(pending.id(), 5000);
    // Someone "confirms" it through chat: a frame of a valid `received` report after the
    // marker, but not at the start of the line (console text is chat from <server>).
    let forged = encode(
        77,
        br#"{"type":"received","id":5000,"status":"done"}"#,
        &EncodeOptions::default(),
    )
    .unwrap()
    .frames
    .remove(0);
    game.command(&format!("\x0c{forged}"));
    let d = bounded("delivery", pending.outcome()).await.unwrap();
    assert_eq!(d.confirmed_by, Confirmation::Status, "{d:?}");
    assert_eq!(game.deliveries(5000), 1);
    assert_eq!(
        game.count_lines(&format!("[CHAT] <server>: \x0c{forged}")),
        1,
        "the forged line was printed"
    );
    assert!(
        game.stdout_lines()
            .iter()
            .any(|l| is_report_of(format!("{l}\n").as_bytes(), 5000)),
        "the module did report it (the test lost the report)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn game_to_host_inline_and_staged_then_pulled_and_acknowledged() {
    let game = fast_game(Vec::new());
    let (_link, mut incoming) = connect(&game, options(1)).await;
    let small = br#"{"type":"player","name":"alice"}"#.to_vec();
    let big = noise(700_000, 5);
    let small_id = game.send_to_host(&small);
    let big_id = game.send_to_host(&big);
    let mut others = Vec::new();
    let first = next_message(&mut incoming, &mut others).await;
    assert_eq!(
        (first.id, first.path, &first.payload),
        (small_id, Path::Stdout, &small)
    );
    let second = next_message(&mut incoming, &mut others).await;
    assert_eq!((second.id, second.path), (big_id, Path::Pulled));
    assert!(second.payload == big, "the pulled payload differs");
    assert!(
        others
            .iter()
            .any(|e| matches!(e, Incoming::Log(l) if l.text.contains("updateTick(0)"))),
        "{others:?}"
    );
    game.wait_until("return #storage.invsync.link.staged_ids == 0");
    let pulls = game.calls("pull");
    assert_eq!(
        pulls.len(),
        staged_frames(big_id, &big),
        "700 kB in frames of 64 KiB, each pulled once: {pulls:?}"
    );
    assert!(all_distinct(&pulls), "{pulls:?}");
    assert_eq!(game.calls("ack"), [big_id.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_in_the_middle_of_a_pull_costs_only_the_frames_in_flight() {
    let game = fast_game(vec![RconFault::new(
        FaultAction::DropConnection,
        "\"pull\"",
        3,
    )]);
    let mut opts = options(1);
    opts.link.pull.in_flight = 2;
    let (_link, mut incoming) = connect(&game, opts).await;
    let big = noise(1_500_000, 6);
    let id = game.send_to_host(&big);
    let mut others = Vec::new();
    let m = next_message(&mut incoming, &mut others).await;
    assert_eq!((m.id, m.path), (id, Path::Pulled));
    assert!(m.payload == big, "the pulled payload differs");
    game.wait_until("return #storage.invsync.link.staged_ids == 0");
    // The link's connection, its reconnect, and the test's own.
    assert_eq!(game.rcon_connections(), 3, "one reconnect");
    let pulls = game.calls("pull");
    let mut distinct = pulls.clone();
    distinct.sort();
    distinct.dedup();
    let frames = staged_frames(id, &big);
    assert_eq!(distinct.len(), frames, "1.5 MB in 64 KiB frames: {pulls:?}");
    // The frames in flight when the connection dropped are pulled again, nothing else (a pull
    // sent after the drop was never read).
    assert!(pulls.len() <= frames + 2, "{pulls:?}");
    assert!(pulls.len() > frames, "{pulls:?}");
    assert!(
        !others
            .iter()
            .any(|e| matches!(e, Incoming::ReceiveFailed(_) | Incoming::Stopped(_))),
        "{others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_are_read_at_connect_and_follow_a_new_declaration() {
    let mut setup = GameSetup::with_settings(PASSWORD, r#"decode = { "raw" }, max_frame = 3000"#);
    setup.args.achievements_warning = true;
    let game = TestGame::start(setup);
    let (link, mut incoming) = connect(&game, options(1)).await;
    // The first `caps()` is refused with the achievements warning; the retry is answered.
    let d = bounded("delivery", link.send(repetitive(30_000)))
        .await
        .unwrap();
    let declared = link.caps().expect("declared");
    assert_eq!(declared.decode, [Method::Raw]);
    assert_eq!(declared.max_frame, 3000);
    assert_eq!(
        d.method,
        Method::Raw,
        "only raw is declared, whatever deflates"
    );
    assert!(
        d.frames >= 11,
        "30 kB in frames of at most 3000 bytes: {d:?}"
    );
    assert_eq!(
        game.count_lines("repeat the command"),
        0,
        "a reply, not a log line"
    );
    // The module declares again on stdout, as an updated module would (the test hook changes
    // the receiver's declaration, then calls `caps`).
    game.command(r#"/sc remote.call("test", "redeclare", "zlib,raw", 8192)"#);
    bounded("new caps", async {
        loop {
            match incoming.recv().await.expect("link ended") {
                Incoming::CapsChanged(c) if c.decode == [Method::Zlib, Method::Raw] => break,
                _ => {}
            }
        }
    })
    .await;
    let d = bounded("delivery", link.send(repetitive(30_000)))
        .await
        .unwrap();
    assert_eq!(d.method, Method::Zlib);
    game.assert_received_once(d.id, &repetitive(30_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_chat_lines_are_only_log_lines() {
    let game = TestGame::start(GameSetup::new(PASSWORD));
    let (_link, mut incoming) = connect(&game, options(1)).await;
    let staged = br#"{"type":"staged","id":901,"count":1,"wlen":5,"method":"raw","bytes":5}"#;
    let frame = encode(900, staged, &EncodeOptions::default())
        .unwrap()
        .frames
        .remove(0);
    // Console text is chat from <server>: the frame after the marker, then without it; then a
    // line printed by Lua that starts with a space before the marker.
    game.command(&format!("\x0c{frame}"));
    game.command(&frame);
    game.command(&format!(
        "/sc print(\" \\x0c\" .. {} .. \"\\r\")",
        invsync_rcon_transport::lua_long_string(&frame)
    ));
    let barrier = game.send_to_host(b"barrier");
    let mut others = Vec::new();
    let m = next_message(&mut incoming, &mut others).await;
    assert_eq!((m.id, m.payload.as_slice()), (barrier, &b"barrier"[..]));
    let logs: Vec<&str> = others
        .iter()
        .filter_map(|e| match e {
            Incoming::Log(l) if l.text.contains(&frame) => Some(l.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), 3, "{others:?}");
    assert!(
        logs.iter()
            .filter(|l| l.contains("[CHAT] <server>:"))
            .count()
            == 2,
        "{logs:?}"
    );
    assert!(game.calls("pull").is_empty(), "nothing was pulled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_to_the_host_follows_the_size() {
    let game = fast_game(Vec::new());
    let (_link, mut incoming) = connect(&game, options(1)).await;
    let mut cases: Vec<Vec<u8>> = [
        10, 1_000, 3_800, 3_900, 3_950, 3_990, 4_000, 4_100, 50_000, 300_000,
    ]
    .iter()
    .enumerate()
    .map(|(i, &len)| noise(len, 100 + i as u64))
    .collect();
    // Repetitive: deflates into one line, when the module deflates it at all.
    cases.push(repetitive(16_000));
    cases.push(repetitive(100_000));
    let mut others = Vec::new();
    let mut paths = Vec::new();
    for payload in cases {
        let id = game.send_to_host(&payload);
        let m = next_message(&mut incoming, &mut others).await;
        assert_eq!(m.id, id);
        assert!(
            m.payload == payload,
            "payload of {} bytes differs",
            payload.len()
        );
        // The documented rule: one stdout frame (3999 bytes) or staged; deflated only up to
        // zlib_max.
        let policy = module_policy(payload.len());
        let one_line = encode(
            id,
            &payload,
            &EncodeOptions {
                method: MethodChoice::Auto,
                receiver: Capabilities {
                    decode: policy.methods.clone(),
                    ..Capabilities::all(3999)
                },
                ..EncodeOptions::default()
            },
        )
        .unwrap()
        .frames
        .len()
            == 1;
        assert_eq!(m.path == Path::Stdout, one_line, "{} bytes", payload.len());
        // The Rust statement of the rule agrees with the game's choice.
        let plan = plan_to_host(id, &payload, &policy).unwrap();
        assert_eq!(
            matches!(plan, ToHostPlan::Inline(_)),
            m.path == Path::Stdout,
            "{} bytes",
            payload.len()
        );
        // Noise: the line limit is the boundary (a raw header takes ~50 bytes of 3999).
        if payload.len() <= 3_900 {
            assert_eq!(m.path, Path::Stdout, "{} bytes", payload.len());
        }
        if payload.len() >= 4_000 && payload.len() < 100_000 && payload[0] != b'{' {
            assert_eq!(m.path, Path::Pulled, "{} bytes", payload.len());
        }
        paths.push(m.path);
    }
    assert_eq!(
        paths[paths.len() - 2..],
        [Path::Stdout, Path::Pulled],
        "16 kB of repetition deflates into a line; 100 kB is over zlib_max and goes raw"
    );
    assert!(
        !others
            .iter()
            .any(|e| matches!(e, Incoming::ReceiveFailed(_) | Incoming::Problem(_))),
        "{others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_connect_error() {
    let game = TestGame::start(GameSetup::new("right"));
    let rcon = ClientConfig::new(game.address(), "wrong");
    let err = bounded(
        "connect",
        Link::connect(rcon, game.take_stdout(), LinkOptions::default()),
    )
    .await
    .unwrap_err();
    let invsync_host::LinkError::Rcon(rcon_error) = &err;
    assert!(rcon_error.is_wrong_password(), "{err}");
}
