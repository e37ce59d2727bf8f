//! Messages into the game through the real driver, [`Link`], over loopback TCP into the mock
//! game's `recv`/`status` model, whose commands run as Lua 5.2 and which keeps every frame
//! exactly as the Lua call received it: a frame only arrives if the command text is Lua that
//! yields the frame byte for byte. The model declares nothing over RCON, so these tests play the
//! game's stdout themselves: one `caps` control message, which also lets them choose the method.
#![cfg(unix)]

use std::future::Future;
use std::io::Cursor;
use std::time::Duration;

use invsync_codec::{
    EncodeOptions, Frame, Method, MethodChoice, ReassemblerConfig, decode_message, encode,
};
use invsync_host::{Confirmation, Delivered, Incoming, Link, LinkConfig, LinkOptions};
use invsync_rcon_transport::ClientConfig;
use invsync_test_support::mock_game::{Behaviour, Fault, FaultAction, GameLog, MockGame};
use invsync_test_support::xorshift::XorShift64;
use tokio::sync::mpsc;

const PASSWORD: &str = "recv-model-pw";
/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);
/// The game's declaration on stdout: every method, frames of at most 1000 bytes.
const CAPS: &str = r#"{"type":"caps","protocol":1,"decode":["raw","zlib","lz4"],"max_frame":1000}"#;

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

/// A link whose stdout carries only the `caps` declaration; returns once the link has it.
async fn link(
    game: &MockGame,
    command_timeout: Duration,
    config: LinkConfig,
    first_id: u32,
) -> (Link, mpsc::Receiver<Incoming>) {
    let caps_frame = encode(1, CAPS.as_bytes(), &EncodeOptions::default())
        .unwrap()
        .frames
        .remove(0);
    let stdout = Cursor::new(format!("\x0c{caps_frame}\n").into_bytes());
    let mut rcon = ClientConfig::new(game.address(), PASSWORD);
    rcon.connection.command_timeout = command_timeout;
    rcon.backoff.initial = Duration::from_millis(20);
    let options = LinkOptions {
        link: LinkConfig {
            // The model has no `caps()`: one useless query, not five.
            max_caps_attempts: 1,
            ..config
        },
        first_message_id: Some(first_id),
        ..LinkOptions::default()
    };
    let (link, mut incoming) = bounded("connect", Link::connect(rcon, stdout, options))
        .await
        .unwrap();
    bounded("the caps declaration", async {
        loop {
            match incoming.recv().await.expect("link ended") {
                Incoming::CapsChanged(caps) => return assert_eq!(caps.max_frame, 1000),
                Incoming::Message(m) => panic!("unexpected message {m:?}"),
                _ => {}
            }
        }
    })
    .await;
    (link, incoming)
}

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The frames the game holds for `delivered` are intact frames (each passes its own checksum)
/// that decode to `payload`: every byte came through the Lua string literal unchanged.
fn assert_arrived_exactly(log: &GameLog, delivered: &Delivered, payload: &[u8]) {
    let frames = log.message_frames(delivered.id);
    assert_eq!(frames.len(), delivered.frames as usize, "{delivered:?}");
    for frame in &frames {
        let parsed = Frame::parse(frame.as_bytes()).unwrap_or_else(|e| panic!("{e}: {frame}"));
        assert_eq!(parsed.header.method, delivered.method);
    }
    let decoded = decode_message(
        frames.iter().map(String::as_bytes),
        ReassemblerConfig::default(),
    )
    .unwrap_or_else(|e| panic!("message {}: {e}", delivered.id));
    assert_eq!(decoded.payload, payload, "message {}", delivered.id);
    assert!(log.completed.contains(&delivered.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_exact_frames_through_lua_out_of_order() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.shuffle_seed = 1234;
    behaviour.chatter_id0 = true;
    let game = MockGame::start(behaviour);
    let payload = payload(20_000);
    for (id, method) in [(1, Method::Raw), (2, Method::Zlib), (3, Method::Lz4)] {
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
        assert_arrived_exactly(&game.log.lock().unwrap(), &delivered, &payload);
    }
    let log = game.log.lock().unwrap();
    assert_eq!(log.completed.len(), 3);
    assert!(
        log.recv_calls.values().all(|&n| n == 1),
        "no chunk was sent twice"
    );
    assert!(
        log.frames[&1]
            .values()
            .any(|f| f.windows(2).any(|w| w == b"]]")),
        "the raw frames really needed a higher long-bracket level"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_replies_time_out_and_are_settled_without_resending() {
    const FRAMES: usize = 16;
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    // A reply in the middle, and the last one (which would have said `done`).
    behaviour.faults = vec![
        Fault::new("\"recv\"", 3, FaultAction::LoseReply),
        Fault::new("\"recv\"", FRAMES, FaultAction::LoseReply),
    ];
    let game = MockGame::start(behaviour);
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
    let log = game.log.lock().unwrap();
    assert_arrived_exactly(&log, &delivered, &payload);
    // Without its `done` reply, the outcome came from the one status query.
    assert_eq!(delivered.confirmed_by, Confirmation::Status);
    assert_eq!(log.count("status"), 1, "{:?}", log.calls);
    assert_eq!(delivered.commands as usize, FRAMES + 1, "{delivered:?}");
    assert_eq!(delivered.chunks_resent, 0, "{delivered:?}");
    assert!(log.recv_calls.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_where_it_was() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::new("\"recv\"", 6, FaultAction::DropConnection)];
    let game = MockGame::start(behaviour);
    let config = LinkConfig {
        in_flight: 4,
        method: MethodChoice::Only(Method::Raw),
        ..LinkConfig::default()
    };
    let (link, _incoming) = link(&game, Duration::from_secs(20), config, 9).await;
    let payload = payload(30_000);
    let delivered = bounded("delivery", link.send(payload.clone()))
        .await
        .unwrap();
    let log = game.log.lock().unwrap();
    assert_eq!(log.connections, 2, "one reconnect");
    assert_arrived_exactly(&log, &delivered, &payload);
    // Every chunk the game ran before the drop was kept: nothing was sent twice, although the
    // replies of the batch in hand were lost with the connection.
    assert!(
        log.recv_calls.values().all(|&n| n == 1),
        "{:?}",
        log.recv_calls
    );
    assert_eq!(log.recv_calls.len(), delivered.frames as usize);
    assert_eq!(delivered.chunks_resent, 0, "{delivered:?}");
    assert_eq!(
        delivered.commands as usize,
        delivered.frames as usize + log.count("status"),
        "{delivered:?}"
    );
    // The link saw the reconnect: it asked for the capabilities again.
    assert_eq!(log.count("caps"), 2, "{:?}", log.calls);
}
