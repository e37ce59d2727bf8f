//! The tokio RCON client against the emulator on 127.0.0.1 (running the scenario module), with
//! the emulator's RCON faults and quirks.

use std::time::Duration;

use invsync_emulator::{FaultAction, RconFault};
use invsync_rcon_transport::{
    BackoffConfig, ClientConfig, CommandError, ConnectionError, LinkStatus, RconClient, RconError,
    StopReason, lua_long_string,
};
use invsync_test_support::game::{GameSetup, TestGame};

const PASSWORD: &str = "test-password";

/// The game with these faults.
fn game_with(faults: Vec<RconFault>) -> TestGame {
    let mut setup = GameSetup::new(PASSWORD);
    setup.args.rcon_faults = faults;
    TestGame::start(setup)
}

fn config(game: &TestGame) -> ClientConfig {
    let mut config = ClientConfig::new(game.address(), PASSWORD);
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        factor: 2,
        max_attempts: Some(20),
    };
    config.connection.command_timeout = Duration::from_secs(20);
    config
}

async fn wait_for_status(client: &RconClient, wanted: impl Fn(&LinkStatus) -> bool) -> LinkStatus {
    let mut watch = client.watch_status();
    let status = tokio::time::timeout(Duration::from_secs(20), watch.wait_for(|s| wanted(s)))
        .await
        .expect("status change within 20 s")
        .expect("status channel open");
    status.clone()
}

#[tokio::test]
async fn runs_lua_commands_and_returns_the_single_reply_packet() {
    let game = game_with(Vec::new());
    let client = RconClient::connect(config(&game)).await.unwrap();
    assert_eq!(client.status(), LinkStatus::Connected { generation: 0 });
    let reply = client
        .command(format!(
            "/sc rcon.print({})",
            lua_long_string("héllo ]] world")
        ))
        .await
        .unwrap();
    assert_eq!(reply.text(), "héllo ]] world\n");
    let empty = client.command("/sc local x = 1").await.unwrap();
    assert!(empty.as_bytes().is_empty(), "no rcon.print, empty body");
    // A 200 kB reply comes back in one piece.
    let big = client
        .command("/sc rcon.print(string.rep('0123456789', 20000))")
        .await
        .unwrap();
    assert_eq!(big.as_bytes().len(), 200_001);
}

#[tokio::test]
async fn a_wrong_password_is_reported_as_such() {
    let game = game_with(Vec::new());
    let mut config = config(&game);
    config.password = "not it".into();
    let err = RconClient::connect(config).await.unwrap_err();
    assert!(err.is_wrong_password(), "{err:?}");
    assert_eq!(err, RconError::Connection(ConnectionError::WrongPassword));
}

#[tokio::test]
async fn many_pipelined_commands_each_get_their_own_reply() {
    // A chat packet with id 0 before every reply; the game runs short commands first.
    let mut setup = GameSetup::new(PASSWORD);
    setup.args.rcon_chat_packets = true;
    let game = TestGame::start(setup);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            // Padding of several lengths: a longer command streams into the game for more
            // ticks, so the game runs them in another order than they arrived.
            let pad = "x".repeat((i * 37) % 500);
            let reply = client
                .command(format!(
                    "/sc rcon.print('r{i} ' .. game.tick) local _ = '{pad}'"
                ))
                .await
                .unwrap();
            let text = reply.text();
            let tick = text
                .strip_prefix(&format!("r{i} "))
                .unwrap_or_else(|| panic!("the reply of r{i}: {text:?}"));
            (i, tick.trim().parse::<u64>().unwrap())
        }));
    }
    let mut ran_at = vec![0u64; 200];
    for task in tasks {
        let (i, tick) = task.await.unwrap();
        ran_at[i] = tick;
    }
    assert_eq!(client.status(), LinkStatus::Connected { generation: 0 });
    assert_eq!(game.rcon_connections(), 1, "no reconnect was needed");
    // The order the commands reached the game, and the ticks they ran at: some ran before
    // commands that arrived before them.
    let arrived: Vec<usize> = game
        .commands()
        .iter()
        // the tick log's heads are escaped: ' is \'
        .filter_map(|c| c.split("rcon.print(\\'r").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(arrived.len(), 200);
    let overtaken = arrived
        .windows(2)
        .filter(|w| ran_at[w[0]] > ran_at[w[1]])
        .count();
    assert!(overtaken > 0, "every command ran in arrival order");
}

#[tokio::test]
async fn a_command_without_reply_times_out_alone() {
    let game = game_with(vec![RconFault::every(FaultAction::Ignore, "/hang")]);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let hanging = client.command_with_timeout("/hang", Duration::from_millis(300));
    let normal = client.command("/sc rcon.print('fine')");
    let (hanging, normal) = tokio::join!(hanging, normal);
    assert_eq!(
        hanging,
        Err(RconError::Command(CommandError::TimedOut {
            after: Duration::from_millis(300)
        }))
    );
    assert_eq!(normal.unwrap().text(), "fine\n");
    assert_eq!(
        client.command("/sc rcon.print(1)").await.unwrap().text(),
        "1\n"
    );
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    let game = game_with(vec![RconFault::new(FaultAction::DropConnection, "", 3)]);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let mut outcomes = Vec::new();
    for i in 0..3 {
        outcomes.push(client.command(format!("/sc rcon.print({i})")).await);
    }
    assert!(outcomes[..2].iter().all(Result::is_ok));
    assert!(
        matches!(
            &outcomes[2],
            Err(RconError::Command(CommandError::ConnectionLost(_)))
        ),
        "{:?}",
        outcomes[2]
    );
    wait_for_status(&client, |s| {
        matches!(s, LinkStatus::Connected { generation: 1 })
    })
    .await;
    assert_eq!(
        client
            .command("/sc rcon.print('back')")
            .await
            .unwrap()
            .text(),
        "back\n"
    );
    assert_eq!(game.rcon_connections(), 2);
}

#[tokio::test]
async fn commands_issued_while_disconnected_wait_for_the_reconnect() {
    let game = game_with(vec![RconFault::new(FaultAction::DropConnection, "", 1)]);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let _ = client.command("/sc rcon.print(0)").await;
    // Issued right after the drop: queued, then sent on the new connection.
    let reply = client.command("/sc rcon.print('queued')").await.unwrap();
    assert_eq!(reply.text(), "queued\n");
}

#[tokio::test]
async fn a_password_change_on_reconnect_stops_the_client() {
    let mut setup = GameSetup::new(PASSWORD);
    setup.args.rcon_faults = vec![RconFault::new(FaultAction::DropConnection, "", 1)];
    setup.args.rcon_password_later = Some(invsync_emulator::Secret("rotated".into()));
    let game = TestGame::start(setup);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let _ = client.command("/sc rcon.print(0)").await;
    let status = wait_for_status(&client, |s| matches!(s, LinkStatus::Stopped(_))).await;
    assert_eq!(status, LinkStatus::Stopped(StopReason::WrongPassword));
    let err = client.command("/sc rcon.print(1)").await.unwrap_err();
    assert!(err.is_wrong_password(), "{err:?}");
}

#[tokio::test]
async fn gives_up_after_the_configured_reconnect_attempts() {
    let game = game_with(vec![RconFault::new(FaultAction::DropConnection, "", 1)]);
    let mut config = config(&game);
    config.backoff.max_attempts = Some(2);
    let client = RconClient::connect(config).await.unwrap();
    drop(game); // nobody listens any more
    let _ = client.command("/sc rcon.print(0)").await;
    let status = wait_for_status(&client, |s| matches!(s, LinkStatus::Stopped(_))).await;
    assert!(
        matches!(
            status,
            LinkStatus::Stopped(StopReason::GaveUp { attempts: 2, .. })
        ),
        "{status:?}"
    );
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_cleanly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = RconClient::connect(ClientConfig::new(address.clone(), PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RconError::Connect { address: a, .. } if *a == address),
        "{err:?}"
    );
}
