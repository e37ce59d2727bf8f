//! The tokio `Link` against a mock game: RCON over loopback TCP whose commands run as Lua 5.2
//! (the stand-in module of PROTOCOL.md 5.3-5.5), and a real pipe for the server's stdout.
#![cfg(unix)]

use std::future::Future;
use std::time::Duration;

use invsync_codec::{Capabilities, EncodeOptions, Method, MethodChoice, encode};
use invsync_host::{
    Confirmation, Incoming, Link, LinkOptions, Path, ReceivedMessage, ToHostPlan, ToHostPolicy,
    plan_to_host,
};
use invsync_rcon_transport::ClientConfig;
use invsync_test_support::mock_game::{
    Behaviour, Fault, FaultAction, MockGame, Module, StandInSettings,
};
use invsync_test_support::xorshift::{XorShift64, noise as printable_noise};
use tokio::sync::mpsc;

const PASSWORD: &str = "link-pw";
/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(30);

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

async fn connect(game: &mut MockGame, options: LinkOptions) -> (Link, mpsc::Receiver<Incoming>) {
    let mut rcon = ClientConfig::new(game.address(), PASSWORD);
    rcon.connection.command_timeout = Duration::from_millis(1500);
    rcon.backoff.initial = Duration::from_millis(20);
    bounded("connect", Link::connect(rcon, game.take_stdout(), options))
        .await
        .unwrap()
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

/// Polls the game until `lua` returns "true".
async fn until_game(game: &MockGame, lua: &str) {
    for _ in 0..500 {
        if game.eval(lua) == "true" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the game never reached: {lua}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_to_game_survives_shuffled_execution_and_lost_replies() {
    let mut behaviour = Behaviour::new(PASSWORD);
    behaviour.shuffle_seed = 99;
    // Lost replies: two chunks of the first message, and the only chunk of the third (so
    // nothing but a status query can tell its outcome).
    behaviour.faults = vec![
        Fault::new(" 1000 3/16 ", 1, FaultAction::LoseReply),
        Fault::new(" 1000 11/16 ", 1, FaultAction::LoseReply),
        Fault::new(" 1002 1/1 ", 1, FaultAction::LoseReply),
    ];
    let mut game = MockGame::start(behaviour);
    let (link, _incoming) = connect(&mut game, options(1000)).await;
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
    let log = game.log.lock().unwrap();
    for (d, payload) in delivered.iter().zip(&payloads) {
        assert_eq!(&log.delivered[&d.id], payload, "message {}", d.id);
        assert_eq!(log.deliveries[&d.id], 1);
        assert_eq!(d.chunks_resent, 0, "{d:?}");
    }
    // Routing into the game: the smallest method the game declares, 16 streams.
    assert_eq!(delivered[0].method, Method::Raw, "noise does not deflate");
    assert_eq!(delivered[0].frames, 16);
    assert_eq!(delivered[1].method, Method::Zlib);
    assert_eq!(
        delivered[2].method,
        Method::Raw,
        "short text: raw beats base64"
    );
    // The lost replies were settled by status queries, not by resending chunks.
    assert_eq!(delivered[2].confirmed_by, Confirmation::Status);
    assert!(log.count("status") >= 1, "{:?}", log.calls);
    let mut recvs: Vec<&String> = log
        .calls
        .iter()
        .filter(|(f, _)| f == "recv")
        .map(|(_, a)| a)
        .collect();
    let total = recvs.len();
    recvs.sort();
    recvs.dedup();
    assert_eq!(recvs.len(), total, "no chunk was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_frame_is_resent() {
    let mut behaviour = Behaviour::new(PASSWORD);
    behaviour.faults = vec![Fault::new("\"recv\"", 2, FaultAction::Damage)];
    let mut game = MockGame::start(behaviour);
    let (link, _incoming) = connect(&mut game, options(1)).await;
    let payload = noise(12_000, 2);
    let d = bounded("delivery", link.send(payload.clone()))
        .await
        .unwrap();
    assert_eq!(d.chunks_resent, 1, "{d:?}");
    assert_eq!(game.log.lock().unwrap().delivered[&d.id], payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_verification_is_confirmed_by_the_report_on_stdout() {
    let mut behaviour = Behaviour::new(PASSWORD);
    behaviour.module = Module::StandIn(StandInSettings {
        deferred: true,
        ..StandInSettings::default()
    });
    let mut game = MockGame::start(behaviour);
    let (link, _incoming) = connect(&mut game, options(10)).await;
    for (i, payload) in [noise(9_000, 3), repetitive(30_000)]
        .into_iter()
        .enumerate()
    {
        let d = bounded("delivery", link.send(payload.clone()))
            .await
            .unwrap();
        assert_eq!(d.confirmed_by, Confirmation::Stdout, "{d:?}");
        assert_eq!(d.id, 10 + i as u32);
        assert_eq!(game.log.lock().unwrap().delivered[&d.id], payload);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reports_the_link_asks_status_and_forged_reports_are_ignored() {
    let mut behaviour = Behaviour::new(PASSWORD);
    behaviour.module = Module::StandIn(StandInSettings {
        deferred: true,
        announce_received: false,
        ..StandInSettings::default()
    });
    let mut game = MockGame::start(behaviour);
    let mut opts = options(5000);
    opts.link.verify_after = Duration::from_millis(300);
    let (link, _incoming) = connect(&mut game, opts).await;
    let pending = link.submit(noise(6_000, 4)).await.unwrap();
    assert_eq!(pending.id(), 5000);
    // A player "confirms" it through chat: a frame of a valid `received` report after the
    // marker, but not at the start of the line.
    let forged = encode(
        77,
        br#"{"type":"received","id":5000,"status":"done"}"#,
        &EncodeOptions::default(),
    )
    .unwrap()
    .frames
    .remove(0);
    game.write_stdout(format!("2000-01-01 00:00:00 [CHAT] eve: \x0c{forged}\n").as_bytes());
    let d = bounded("delivery", pending.outcome()).await.unwrap();
    assert_eq!(d.confirmed_by, Confirmation::Status, "{d:?}");
    assert_eq!(game.log.lock().unwrap().deliveries[&5000], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn game_to_host_inline_and_staged_then_pulled_and_acknowledged() {
    let mut game = MockGame::start(Behaviour::new(PASSWORD));
    let (_link, mut incoming) = connect(&mut game, options(1)).await;
    game.write_stdout(b"   1.000 Info ServerMultiplayerManager.cpp:808: updateTick(0)\n");
    let small = br#"{"type":"player","name":"alice"}"#.to_vec();
    let big = noise(700_000, 5);
    let (small_id, small_path) = game.send_to_host(&small);
    let (big_id, big_path) = game.send_to_host(&big);
    assert_eq!(
        (small_path.as_str(), big_path.as_str()),
        ("stdout", "pulled")
    );
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
    until_game(
        &game,
        "return tostring(next(storage.invsync.staged) == nil)",
    )
    .await;
    let log = game.log.lock().unwrap();
    assert_eq!(
        log.count("pull"),
        3,
        "700 kB in three 256 KiB frames: {:?}",
        log.calls
    );
    assert_eq!(log.count("ack"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_in_the_middle_of_a_pull_costs_only_the_frames_in_flight() {
    let mut behaviour = Behaviour::new(PASSWORD);
    behaviour.faults = vec![Fault::new("\"pull\"", 3, FaultAction::DropConnection)];
    let mut game = MockGame::start(behaviour);
    let mut opts = options(1);
    opts.link.pull.in_flight = 2;
    let (_link, mut incoming) = connect(&mut game, opts).await;
    let big = noise(1_500_000, 6);
    let (id, path) = game.send_to_host(&big);
    assert_eq!(path, "pulled");
    let mut others = Vec::new();
    let m = next_message(&mut incoming, &mut others).await;
    assert_eq!((m.id, m.path), (id, Path::Pulled));
    assert!(m.payload == big, "the pulled payload differs");
    until_game(
        &game,
        "return tostring(next(storage.invsync.staged) == nil)",
    )
    .await;
    let log = game.log.lock().unwrap();
    assert_eq!(log.connections, 2, "one reconnect");
    let pulls: Vec<&String> = log
        .calls
        .iter()
        .filter(|(f, _)| f == "pull")
        .map(|(_, a)| a)
        .collect();
    let mut distinct = pulls.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "1.5 MB in six frames: {pulls:?}");
    // The frames in flight when the connection dropped are pulled again, nothing else.
    assert!(pulls.len() <= 6 + 2, "{pulls:?}");
    assert!(pulls.len() > 6, "{pulls:?}");
    assert!(
        !others
            .iter()
            .any(|e| matches!(e, Incoming::ReceiveFailed(_) | Incoming::Stopped(_))),
        "{others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_are_read_at_connect_and_follow_a_new_declaration() {
    let mut behaviour = Behaviour::new(PASSWORD);
    behaviour.module = Module::StandIn(StandInSettings {
        decode: vec!["raw"],
        max_frame: 3000,
        ..StandInSettings::default()
    });
    behaviour.refuse_first_lua_command = true;
    let mut game = MockGame::start(behaviour);
    let (link, mut incoming) = connect(&mut game, options(1)).await;
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
    // The module is updated and declares again on stdout.
    game.eval(
        r#"mock_config.decode = {"zlib", "raw"}; mock_config.max_frame = 8192
           remote.call("invsync", "caps"); return "ok""#,
    );
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
    assert_eq!(
        game.log.lock().unwrap().delivered[&d.id],
        repetitive(30_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_chat_lines_are_only_log_lines() {
    let mut game = MockGame::start(Behaviour::new(PASSWORD));
    let (_link, mut incoming) = connect(&mut game, options(1)).await;
    let staged = br#"{"type":"staged","id":901,"count":1,"wlen":5,"method":"raw","bytes":5}"#;
    let frame = encode(900, staged, &EncodeOptions::default())
        .unwrap()
        .frames
        .remove(0);
    game.write_stdout(format!("2000-01-01 00:00:00 [CHAT] eve: \x0c{frame}\n").as_bytes());
    game.write_stdout(format!("2000-01-01 00:00:01 [CHAT] eve: {frame}\n").as_bytes());
    game.write_stdout(format!(" \x0c{frame}\r\n").as_bytes());
    let (barrier, _) = game.send_to_host(b"barrier");
    let mut others = Vec::new();
    let m = next_message(&mut incoming, &mut others).await;
    assert_eq!((m.id, m.payload.as_slice()), (barrier, &b"barrier"[..]));
    let logs: Vec<&str> = others
        .iter()
        .filter_map(|e| match e {
            Incoming::Log(l) => Some(l.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), 3, "{others:?}");
    assert!(logs.iter().all(|l| l.contains(&frame)), "{logs:?}");
    assert_eq!(
        game.log.lock().unwrap().count("pull"),
        0,
        "nothing was pulled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_to_the_host_follows_the_size() {
    let mut game = MockGame::start(Behaviour::new(PASSWORD));
    let (_link, mut incoming) = connect(&mut game, options(1)).await;
    let policy = ToHostPolicy::default();
    let mut cases: Vec<Vec<u8>> = [
        10, 1_000, 3_800, 3_900, 3_950, 3_990, 4_000, 4_100, 50_000, 300_000,
    ]
    .iter()
    .enumerate()
    .map(|(i, &len)| noise(len, 100 + i as u64))
    .collect();
    // Large but repetitive: deflates into one line.
    cases.push(repetitive(100_000));
    let mut others = Vec::new();
    for payload in cases {
        let (id, path) = game.send_to_host(&payload);
        let m = next_message(&mut incoming, &mut others).await;
        assert_eq!(m.id, id);
        assert!(
            m.payload == payload,
            "payload of {} bytes differs",
            payload.len()
        );
        let expected = match path.as_str() {
            "stdout" => Path::Stdout,
            _ => Path::Pulled,
        };
        assert_eq!(m.path, expected, "{} bytes", payload.len());
        // The documented rule: one stdout frame (3999 bytes) or staged.
        let one_line = encode(
            id,
            &payload,
            &EncodeOptions {
                method: MethodChoice::Auto,
                receiver: Capabilities {
                    decode: vec![Method::Raw, Method::Zlib],
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
            m.path == Path::Stdout
        );
        // Noise: the line limit is the boundary (a raw header takes ~50 bytes of 3999).
        if payload.len() <= 3_900 {
            assert_eq!(m.path, Path::Stdout, "{} bytes", payload.len());
        }
        if payload.len() >= 4_000 && payload.len() < 100_000 {
            assert_eq!(m.path, Path::Pulled, "{} bytes", payload.len());
        }
    }
    assert!(
        !others
            .iter()
            .any(|e| matches!(e, Incoming::ReceiveFailed(_) | Incoming::Problem(_))),
        "{others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_connect_error() {
    let mut game = MockGame::start(Behaviour::new("right"));
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
