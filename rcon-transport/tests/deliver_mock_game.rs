//! The async delivery driver over real loopback TCP into the mock game, whose commands run as
//! Lua 5.2: frames must come out of the Lua string literals byte for byte.

use std::time::Duration;

use invsync_codec::{Capabilities, EncodeOptions, Method, MethodChoice, encode};
use invsync_rcon_transport::{ClientConfig, Delivery, DeliveryConfig, RconClient, deliver};
use invsync_test_support::mock_game::{Behaviour, Fault, FaultAction, MockGame};
use invsync_test_support::xorshift::XorShift64;

const PASSWORD: &str = "deliver-pw";

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

fn frames(id: u32, payload: &[u8], method: Method) -> Vec<String> {
    let options = EncodeOptions {
        method: MethodChoice::Only(method),
        receiver: Capabilities::all(1000),
        ..EncodeOptions::default()
    };
    encode(id, payload, &options).unwrap().frames
}

async fn client(game: &MockGame, command_timeout: Duration) -> RconClient {
    let mut config = ClientConfig::new(game.address(), PASSWORD);
    config.connection.command_timeout = command_timeout;
    config.backoff.initial = Duration::from_millis(20);
    RconClient::connect(config).await.unwrap()
}

#[tokio::test]
async fn delivers_exact_frames_through_lua_out_of_order() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.shuffle_seed = 1234;
    behaviour.chatter_id0 = true;
    let game = MockGame::start(behaviour);
    let client = client(&game, Duration::from_secs(20)).await;
    for (id, method) in [(1, Method::Raw), (2, Method::Zlib), (3, Method::Lz4)] {
        let frames = frames(id, &payload(20_000), method);
        assert!(frames.len() > 1);
        let config = DeliveryConfig {
            in_flight: 8,
            ..DeliveryConfig::default()
        };
        let mut delivery = Delivery::new(id, frames.clone(), config).unwrap();
        let stats = deliver(&client, &mut delivery).await.unwrap();
        assert_eq!(stats.chunks_resent, 0);
        let state = game.log.lock().unwrap();
        assert_eq!(
            state.message_frames(id),
            frames,
            "frames arrive byte for byte ({method:?})"
        );
        assert!(state.completed.contains(&id));
    }
    let state = game.log.lock().unwrap();
    assert!(
        state.recv_calls.values().all(|&n| n == 1),
        "no chunk was sent twice"
    );
    assert!(
        state.frames[&1]
            .values()
            .any(|f| f.windows(2).any(|w| w == b"]]")),
        "the raw frames really needed a higher long-bracket level"
    );
}

#[tokio::test]
async fn lost_replies_time_out_and_are_settled_without_resending() {
    let frames = frames(7, &payload(12_000), Method::Raw);
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    // A reply in the middle, and the last one (which would have said `done`).
    behaviour.faults = vec![
        Fault::nth_command(3, FaultAction::LoseReply),
        Fault::nth_command(frames.len(), FaultAction::LoseReply),
    ];
    let game = MockGame::start(behaviour);
    let client = client(&game, Duration::from_millis(400)).await;
    let mut delivery = Delivery::new(7, frames.clone(), DeliveryConfig::default()).unwrap();
    let stats = deliver(&client, &mut delivery).await.unwrap();
    let state = game.log.lock().unwrap();
    assert_eq!(state.message_frames(7), frames);
    assert_eq!((stats.lost, stats.status_queries), (2, 1), "{stats:?}");
    assert_eq!(stats.chunks_resent, 0, "{stats:?}");
    assert!(state.recv_calls.values().all(|&n| n == 1));
}

#[tokio::test]
async fn a_dropped_connection_resumes_where_it_was() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::nth_command(6, FaultAction::DropConnection)];
    let game = MockGame::start(behaviour);
    let client = client(&game, Duration::from_secs(20)).await;
    let frames = frames(9, &payload(30_000), Method::Raw);
    let count = frames.len();
    let config = DeliveryConfig {
        in_flight: 4,
        ..DeliveryConfig::default()
    };
    let mut delivery = Delivery::new(9, frames.clone(), config).unwrap();
    let stats = deliver(&client, &mut delivery).await.unwrap();
    let state = game.log.lock().unwrap();
    assert_eq!(state.connections, 2, "one reconnect");
    assert_eq!(state.message_frames(9), frames);
    // Every chunk the game ran before the drop was kept: nothing was sent twice, although the
    // replies of the batch in hand were lost with the connection.
    assert!(
        state.recv_calls.values().all(|&n| n == 1),
        "{:?}",
        state.recv_calls
    );
    assert_eq!(state.recv_calls.len(), count);
    assert!(stats.lost > 0, "{stats:?}");
    assert_eq!(
        stats.commands as usize,
        count + stats.status_queries as usize,
        "{stats:?}"
    );
}
