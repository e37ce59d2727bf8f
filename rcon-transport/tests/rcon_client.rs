//! The tokio RCON client against the Factorio-like mock game on 127.0.0.1.

use std::time::Duration;

use invsync_rcon_transport::{
    BackoffConfig, ClientConfig, CommandError, ConnectionError, LinkStatus, RconClient, RconError,
    StopReason, lua_long_string,
};
use invsync_test_support::mock_game::{Behaviour, Fault, FaultAction, MockGame};

const PASSWORD: &str = "test-password";

fn config(game: &MockGame) -> ClientConfig {
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
    let game = MockGame::start(Behaviour::recv_model(PASSWORD));
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
    let game = MockGame::start(Behaviour::recv_model(PASSWORD));
    let mut config = config(&game);
    config.password = "not it".into();
    let err = RconClient::connect(config).await.unwrap_err();
    assert!(err.is_wrong_password(), "{err:?}");
    assert_eq!(err, RconError::Connection(ConnectionError::WrongPassword));
}

#[tokio::test]
async fn many_pipelined_commands_each_get_their_own_reply() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.shuffle_seed = 99;
    behaviour.chatter_id0 = true;
    let game = MockGame::start(behaviour);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let reply = client
                .command(format!("/sc rcon.print('r{i}')"))
                .await
                .unwrap();
            assert_eq!(reply.text(), format!("r{i}\n"));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        game.log.lock().unwrap().connections,
        1,
        "no reconnect was needed"
    );
}

#[tokio::test]
async fn a_command_without_reply_times_out_alone() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::every("/hang", FaultAction::Ignore)];
    let game = MockGame::start(behaviour);
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
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::nth_command(3, FaultAction::DropConnection)];
    let game = MockGame::start(behaviour);
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
    assert_eq!(game.log.lock().unwrap().connections, 2);
}

#[tokio::test]
async fn commands_issued_while_disconnected_wait_for_the_reconnect() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::nth_command(1, FaultAction::DropConnection)];
    let game = MockGame::start(behaviour);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let _ = client.command("/sc rcon.print(0)").await;
    // Issued right after the drop: queued, then sent on the new connection.
    let reply = client.command("/sc rcon.print('queued')").await.unwrap();
    assert_eq!(reply.text(), "queued\n");
}

#[tokio::test]
async fn a_password_change_on_reconnect_stops_the_client() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::nth_command(1, FaultAction::DropConnection)];
    behaviour.password_after_first = Some("rotated".into());
    let game = MockGame::start(behaviour);
    let client = RconClient::connect(config(&game)).await.unwrap();
    let _ = client.command("/sc rcon.print(0)").await;
    let status = wait_for_status(&client, |s| matches!(s, LinkStatus::Stopped(_))).await;
    assert_eq!(status, LinkStatus::Stopped(StopReason::WrongPassword));
    let err = client.command("/sc rcon.print(1)").await.unwrap_err();
    assert!(err.is_wrong_password(), "{err:?}");
}

#[tokio::test]
async fn gives_up_after_the_configured_reconnect_attempts() {
    let mut behaviour = Behaviour::recv_model(PASSWORD);
    behaviour.faults = vec![Fault::nth_command(1, FaultAction::DropConnection)];
    let game = MockGame::start(behaviour);
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
