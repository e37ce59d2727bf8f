//! The `export_json` capability end to end (PROTOCOL.md 4 and 4.1): the module declares it
//! only when its setting is on, the link reads the declaration, and what a host sends follows
//! it (`for_game`, as `invsync host` calls it for every `player_data` message).
#![cfg(unix)]

use std::time::Duration;

use invsync_host::{Link, LinkOptions, for_game};
use invsync_player_data::{SampleKind, sample};
use invsync_rcon_transport::ClientConfig;
use invsync_test_support::game::{GameSetup, TestGame};

const PASSWORD: &str = "xj-pw";
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_gets_xj_only_when_its_module_declares_export_json() {
    let stored = sample(SampleKind::Bp, 1).to_json().into_bytes();
    for (settings, declared) in [("", false), ("export_json = true", true)] {
        let game = TestGame::start(GameSetup::with_settings(PASSWORD, settings));
        let (link, _incoming) = tokio::time::timeout(
            LIMIT,
            Link::connect(
                ClientConfig::new(game.address(), PASSWORD),
                game.take_stdout(),
                LinkOptions::default(),
            ),
        )
        .await
        .expect("connected in time")
        .expect("connected");
        let mut watch = link.watch_caps();
        let caps = tokio::time::timeout(LIMIT, watch.wait_for(|c| c.is_some()))
            .await
            .expect("declared in time")
            .expect("the link runs")
            .clone()
            .unwrap();
        assert_eq!(caps.export_json, declared, "{settings:?}");
        let sent = for_game(Some(&caps), stored.clone());
        if declared {
            let text = String::from_utf8(sent).unwrap();
            assert!(
                text.contains(r#""xj":"{\"blueprint"#),
                "JSON in place of exports"
            );
            assert!(!text.contains(r#""x":"0"#), "no export left");
        } else {
            assert_eq!(sent, stored, "{settings:?}: the stored data as it is");
        }
    }
}
