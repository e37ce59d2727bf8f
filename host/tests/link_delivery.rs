//! Messages into the game through the real driver, [`Link`], over loopback TCP into the
//! emulator running the scenario module, with the emulator's RCON faults. The module checks
//! every frame (its checksum, the message's checksum, the decoding) before it hands the payload
//! over, so a payload that arrives whole, from chunks each sent once, came through the Lua
//! string literals byte for byte.
#![cfg(unix)]

use std::future::Future;
use std::time::Duration;

use invsync_codec::{Method, MethodChoice};
use invsync_emulator::{FaultAction, RconFault};
use invsync_host::{Confirmation, Delivered, Incoming, Link, LinkConfig, LinkOptions};
use invsync_rcon_transport::ClientConfig;
use invsync_test_support::game::{GameSetup, TestGame};
use invsync_test_support::xorshift::XorShift64;
use tokio::sync::mpsc;

const PASSWORD: &str = "delivery-pw";
/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);
/// The module's settings: every method, frames of at most 1000 bytes, and no custom command,
/// as a module from before it declares none: frames go in through `remote.call` (the fault
/// specs below match its `"recv"`).
const SETTINGS: &str =
    r#"decode = { "raw", "zlib", "lz4" }, max_frame = 1000, recv_command = false"#;
/// The same with the module's custom command (PROTOCOL.md 5.2), which it declares.
const SETTINGS_COMMAND: &str = r#"decode = { "raw", "zlib", "lz4" }, max_frame = 1000"#;

fn payload(len: usize) -> Vec<u8> {
    // Text full of `]]` and `]=]` so frames need long brackets of higher levels.
    let pieces: [&[u8]; 6] = [
        b"{\"a\":[[1,2]]}",
        b"]=]",
        b"]==]",
        b"blueprint ",
        b"\xc3\xa9t\xc3\xa9 ",
        b"0123456789",
    ];
    let mut out = Vec::new();
    let mut rng = XorShift64(0x9e37_79b9_7f4a_7c15);
    while out.len() < len {
        let state = rng.next_u64();
        out.extend_from_slice(pieces[(state % 6) as usize]);
        // Random numbers keep the compressed methods from shrinking it to one frame.
        out.extend_from_slice((state >> 20).to_string().as_bytes());
    }
    out.truncate(len);
    // Never end inside a multi-byte character.
    while std::str::from_utf8(&out).is_err() {
        out.pop();
    }
    out
}

fn game(faults: Vec<RconFault>) -> TestGame {
    let mut setup = GameSetup::with_settings(PASSWORD, SETTINGS);
    setup.args.rcon_faults = faults;
    TestGame::start(setup)
}

/// A link to the game; returns once it has read the module's declaration.
async fn link(
    game: &TestGame,
    command_timeout: Duration,
    config: LinkConfig,
    first_id: u32,
) -> (Link, mpsc::Receiver<Incoming>) {
    let mut rcon = ClientConfig::new(game.address(), PASSWORD);
    rcon.connection.command_timeout = command_timeout;
    rcon.backoff.initial = Duration::from_millis(20);
    let options = LinkOptions {
        link: config,
        first_message_id: Some(first_id),
        ..LinkOptions::default()
    };
    let (link, incoming) = bounded("connect", Link::connect(rcon, game.take_stdout(), options))
        .await
        .unwrap();
    bounded("the module's declaration", async {
        while link.caps().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(link.caps().unwrap().max_frame, 1000);
    (link, incoming)
}

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The module handed `payload` to the scenario once as message `delivered.id`, and the game
/// took each of its chunks through `recv`; the recv calls of that message.
fn assert_arrived_exactly(game: &TestGame, delivered: &Delivered, payload: &[u8]) -> Vec<String> {
    game.assert_received_once(delivered.id, payload);
    let prefix = format!("{} ", delivered.id);
    let recvs: Vec<String> = game
        .calls("recv")
        .into_iter()
        .filter(|r| r.starts_with(&prefix))
        .collect();
    let mut distinct = recvs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), delivered.frames as usize, "{recvs:?}");
    recvs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_exact_frames_through_lua_out_of_order() {
    let payload = payload(20_000);
    let runs = [
        (1, Method::Raw, SETTINGS),
        (2, Method::Zlib, SETTINGS),
        (3, Method::Lz4, SETTINGS),
        (4, Method::Raw, SETTINGS_COMMAND),
        (5, Method::Zlib, SETTINGS_COMMAND),
    ];
    for (id, method, settings) in runs {
        // A chat packet with id 0 before every reply; the game runs short commands first.
        let mut setup = GameSetup::with_settings(PASSWORD, settings);
        setup.args.rcon_chat_packets = true;
        let game = TestGame::start(setup);
        let config = LinkConfig {
            in_flight: 8,
            method: MethodChoice::Only(method),
            ..LinkConfig::default()
        };
        let (link, _incoming) = link(&game, Duration::from_secs(20), config, id).await;
        let delivered = bounded("delivery", link.send(payload.clone()))
            .await
            .unwrap();
        assert_eq!((delivered.id, delivered.method), (id, method));
        assert!(delivered.frames > 1, "{delivered:?}");
        assert_eq!(delivered.chunks_resent, 0, "{delivered:?}");
        let recvs = assert_arrived_exactly(&game, &delivered, &payload);
        assert_eq!(
            recvs.len(),
            delivered.frames as usize,
            "no chunk was sent twice"
        );
        // The entry follows the declaration: the custom command for every frame it can carry
        // as it is (not a raw frame ending in a space, which a console might trim), the remote
        // call for the rest and for a module without it.
        let custom = game
            .commands()
            .iter()
            // (the module declares the short header, PROTOCOL.md 2.5: `~` starts its frames)
            .filter(|c| c.starts_with("/invsync-recv ~"))
            .count();
        let declared = link.caps().unwrap().recv_command;
        if settings == SETTINGS {
            assert_eq!((declared, custom), (None, 0));
        } else {
            assert_eq!(declared.as_deref(), Some("invsync-recv"));
            let trailing_space = if method == Method::Raw {
                recvs.len() / 2
            } else {
                0
            };
            assert!(
                custom >= recvs.len() - trailing_space && custom > 0,
                "{custom} of {}",
                recvs.len()
            );
            continue;
        }
        if method == Method::Raw {
            // The tick log's heads are escaped: `"recv",[=[` reads \"recv\",[=[.
            assert!(
                game.commands()
                    .iter()
                    .any(|c| c.contains("\\\"recv\\\",[=")),
                "the raw frames really needed a higher long-bracket level"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_replies_time_out_and_are_settled_without_resending() {
    const FRAMES: usize = 16;
    // A reply in the middle, and the last one.
    let game = game(vec![
        RconFault::new(FaultAction::LoseReply, "\"recv\"", 3),
        RconFault::new(FaultAction::LoseReply, "\"recv\"", FRAMES),
    ]);
    let config = LinkConfig {
        method: MethodChoice::Only(Method::Raw),
        ..LinkConfig::default()
    };
    let (link, _incoming) = link(&game, Duration::from_millis(400), config, 7).await;
    let payload = payload(12_000);
    let delivered = bounded("delivery", link.send(payload.clone()))
        .await
        .unwrap();
    assert_eq!(delivered.frames as usize, FRAMES, "the faults count on it");
    let recvs = assert_arrived_exactly(&game, &delivered, &payload);
    assert_eq!(recvs.len(), FRAMES, "no chunk was sent twice: {recvs:?}");
    assert_eq!(delivered.chunks_resent, 0, "{delivered:?}");
    // Without the last reply, the outcome came from the module's report on stdout or a status
    // query; the link sent nothing but the chunks and its status queries.
    assert_ne!(delivered.confirmed_by, Confirmation::Done, "{delivered:?}");
    let statuses = game.calls("status").len();
    assert!(statuses <= 2, "{statuses} status queries");
    assert_eq!(
        delivered.commands as usize,
        FRAMES + statuses,
        "{delivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_where_it_was() {
    const IN_FLIGHT: usize = 4;
    let game = game(vec![RconFault::new(
        FaultAction::DropConnection,
        "\"recv\"",
        6,
    )]);
    let config = LinkConfig {
        in_flight: IN_FLIGHT,
        method: MethodChoice::Only(Method::Raw),
        ..LinkConfig::default()
    };
    let (link, _incoming) = link(&game, Duration::from_secs(20), config, 9).await;
    let payload = payload(30_000);
    let delivered = bounded("delivery", link.send(payload.clone()))
        .await
        .unwrap();
    assert_eq!(game.rcon_connections(), 2, "one reconnect");
    let recvs = assert_arrived_exactly(&game, &delivered, &payload);
    // The delivery resumed: what was sent again is at most what was in flight when the
    // connection dropped (the replies lost with it, the commands never read, chunks still
    // streaming into the game when the status query ran), not the message from its start.
    let frames = delivered.frames as usize;
    assert!(recvs.len() <= frames + IN_FLIGHT, "{recvs:?}");
    assert!(
        delivered.chunks_resent as usize <= IN_FLIGHT,
        "{delivered:?}"
    );
    assert_eq!(
        delivered.commands as usize,
        frames + delivered.chunks_resent as usize + game.calls("status").len(),
        "{delivered:?}"
    );
    // The link saw the reconnect: it asked for the capabilities again.
    assert_eq!(game.calls("caps").len(), 2, "{:?}", game.commands());
}
