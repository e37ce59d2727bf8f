//! The RCON client against independent peers written in Python:
//! * PyPI `rconx`, a SRCDS-style Source RCON server, for the SRCDS mode (multi-packet replies
//!   ended by the empty-probe sentinel), pipelined;
//! * a server that mishandles pipelining, to show the client detects it cleanly.
//!
//! Without the peers these tests print a notice and pass, unless `INVSYNC_REQUIRE_PEERS=1`.

mod support;

use std::time::Duration;

use invsync_rcon_transport::{
    ClientConfig, CommandError, ConnectionError, LinkStatus, Mode, RconClient, RconError,
    StopReason,
};
use support::peers::{python_with, spawn_peer};

const PASSWORD: &str = "peer-password";

fn srcds_config(address: String) -> ClientConfig {
    let mut config = ClientConfig::new(address, PASSWORD);
    config.connection.mode = Mode::Srcds;
    config.connection.command_timeout = Duration::from_secs(20);
    config
}

fn expected_long(n: usize) -> String {
    (0..n)
        .map(|i| char::from(b'a' + ((i * 7 + i / 26) % 26) as u8))
        .collect()
}

#[tokio::test]
async fn srcds_mode_against_rconx() {
    let Some(python) = python_with(&["rconx"], "srcds_mode_against_rconx") else {
        return;
    };
    let peer = spawn_peer(&python, "srcds_server.py", &[PASSWORD]);
    let client = RconClient::connect(srcds_config(peer.address()))
        .await
        .unwrap();

    assert_eq!(client.command("echo hello").await.unwrap().text(), "hello");
    // rconx splits replies at 4086 bytes of body: 20000 bytes arrive as five packets.
    let long = client.command("long 20000").await.unwrap();
    assert_eq!(long.text(), expected_long(20000));
    assert!(client.command("echo").await.unwrap().as_bytes().is_empty());

    // Pipelined: many commands in flight at once, each reply reassembled and matched.
    let mut tasks = Vec::new();
    for i in 0..40usize {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            if i % 5 == 0 {
                let n = 5000 + i * 100;
                assert_eq!(
                    client.command(format!("long {n}")).await.unwrap().text(),
                    expected_long(n)
                );
            } else {
                assert_eq!(
                    client.command(format!("echo r{i}")).await.unwrap().text(),
                    format!("r{i}")
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn rconx_refuses_a_wrong_password() {
    let Some(python) = python_with(&["rconx"], "rconx_refuses_a_wrong_password") else {
        return;
    };
    let peer = spawn_peer(&python, "srcds_server.py", &[PASSWORD]);
    let mut config = srcds_config(peer.address());
    config.password = "wrong".into();
    let err = RconClient::connect(config).await.unwrap_err();
    assert!(err.is_wrong_password(), "{err:?}");
}

#[tokio::test]
async fn factorio_mode_against_a_multi_packet_server_is_a_clear_error() {
    let Some(python) = python_with(&["rconx"], "factorio_mode_against_a_multi_packet_server")
    else {
        return;
    };
    let peer = spawn_peer(&python, "srcds_server.py", &[PASSWORD]);
    let mut config = srcds_config(peer.address());
    config.connection.mode = Mode::Factorio;
    config.backoff.max_attempts = Some(0);
    let client = RconClient::connect(config).await.unwrap();
    let short = client.command("echo short").await.unwrap();
    assert_eq!(short.text(), "short");
    let first_packet = client.command("long 10000").await.unwrap();
    // The first packet is taken as the whole reply...
    assert_eq!(first_packet.as_bytes().len(), 4086);
    // ...and the second one is caught as a protocol violation that ends the connection.
    let mut status = client.watch_status();
    let stopped = tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| matches!(s, LinkStatus::Stopped(_))),
    )
    .await
    .expect("the violation is detected")
    .unwrap()
    .clone();
    assert!(
        matches!(
            &stopped,
            LinkStatus::Stopped(StopReason::GaveUp {
                last: ConnectionError::ExtraReplyPacket { .. },
                ..
            })
        ),
        "{stopped:?}"
    );
}

async fn pipeline_against(mode: &str) -> Vec<Result<String, RconError>> {
    let python = python_with(&[], mode).expect("checked by caller");
    let peer = spawn_peer(&python, "bad_pipelining_server.py", &[mode, PASSWORD]);
    let mut config = ClientConfig::new(peer.address(), PASSWORD);
    config.connection.command_timeout = Duration::from_secs(2);
    config.backoff.max_attempts = Some(0);
    let client = RconClient::connect(config).await.unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .command(format!("/c {i}"))
                    .await
                    .map(|r| r.text().into_owned())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    drop(peer);
    results
}

#[tokio::test]
async fn a_server_that_drops_pipelined_commands_shows_as_timeouts() {
    if python_with(&[], "a_server_that_drops_pipelined_commands").is_none() {
        return;
    }
    let results = pipeline_against("one-at-a-time").await;
    let answered: Vec<_> = results.iter().filter_map(|r| r.as_deref().ok()).collect();
    assert_eq!(answered.len(), 1, "{results:?}");
    assert!(answered[0].starts_with("reply to /c "), "{answered:?}");
    let timed_out = results
        .iter()
        .filter(|r| matches!(r, Err(RconError::Command(CommandError::TimedOut { .. }))))
        .count();
    assert_eq!(timed_out, 4, "{results:?}");
}

#[tokio::test]
async fn a_server_that_mixes_up_reply_ids_is_a_protocol_error() {
    if python_with(&[], "a_server_that_mixes_up_reply_ids").is_none() {
        return;
    }
    let results = pipeline_against("same-id").await;
    // The first reply is taken for the command whose id it carries; the second packet with
    // that id is caught, and the other commands fail with the violation as the reason.
    let answered = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(answered, 1, "{results:?}");
    let caught = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(RconError::Command(CommandError::ConnectionLost(
                    ConnectionError::ExtraReplyPacket { .. }
                )))
            )
        })
        .count();
    assert_eq!(caught, 4, "{results:?}");

    let results = pipeline_against("shifted-id").await;
    assert!(
        results.iter().all(|r| matches!(
            r,
            Err(RconError::Command(CommandError::ConnectionLost(
                ConnectionError::UnmatchedReply { .. }
            )))
        )),
        "{results:?}"
    );
}
