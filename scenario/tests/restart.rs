//! A crash and a restart from an autosave: the players the module had online are uploaded
//! again; a player who reconnects at once gets the same inventory back; the capabilities are
//! announced again after the load.

mod support;

use invsync_player_data::PlayerData;
use support::*;

fn server_with_autosave(every: u64) -> Server {
    let mut s = Server::new("alpha", config(&control_with(""), 0, false));
    s.game.set_autosave_interval(Some(every));
    s
}

#[test]
fn players_online_at_the_autosave_are_uploaded_after_a_restart() {
    let mut c = Cluster::default();
    let mut a = server_with_autosave(100);
    a.run(&mut c, 1);
    a.join("ann");
    a.join("bob");
    a.run_until(&mut c, 300, "both playing", |s, _| {
        s.state("ann") == "playing" && s.state("bob") == "playing"
    });
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='coal', count=42}",
    );
    a.sc(
        &mut c,
        "game.get_player('bob').insert{name='stone', count=17}",
    );
    // an autosave happens, then more play that the crash will lose
    let saved_at = a.game.tick() + 100;
    a.run_until(&mut c, 200, "an autosave", |s, _| {
        s.game.tick() > saved_at + 1
    });
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='wood', count=5}",
    );
    let caps_before = a.caps.clone();
    a.caps = None;
    a.crash_and_restart();
    a.run(&mut c, 2);
    assert!(
        a.caps.is_some(),
        "capabilities announced again after the load"
    );
    assert_eq!(a.caps, caps_before);
    a.run_until(&mut c, 600, "both uploaded", |_, c| {
        c.stored().get("ann").is_some_and(|s| s.generation == 1)
            && c.stored().get("bob").is_some_and(|s| s.generation == 1)
    });
    let ann = PlayerData::from_json(c.stored()["ann"].data.as_bytes()).unwrap();
    assert!(ann.stacks().any(|s| s.name == "coal" && s.count == 42));
    assert!(
        !ann.stacks().any(|s| s.name == "wood"),
        "the state of the autosave, not the lost one"
    );
    let bob = PlayerData::from_json(c.stored()["bob"].data.as_bytes()).unwrap();
    assert!(bob.stacks().any(|s| s.name == "stone" && s.count == 17));
    assert_eq!(a.state("ann"), "idle");
    assert!(a.over_budget.is_empty(), "{:?}", a.over_budget);
}

#[test]
fn a_player_who_reconnects_at_once_keeps_the_autosaved_inventory() {
    let mut c = Cluster::default();
    let mut a = server_with_autosave(50);
    a.run(&mut c, 1);
    a.join("ann");
    a.run_until(&mut c, 300, "playing", |s, _| s.state("ann") == "playing");
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='coal', count=42}",
    );
    a.run(&mut c, 60);
    let before = a.items("ann");
    a.crash_and_restart();
    // reconnects in the very first tick after the restart, before the module noticed
    a.join("ann");
    a.run(&mut c, 1);
    assert_ne!(a.state("ann"), "playing", "the join restarted the sync");
    a.run_until(&mut c, 600, "playing again", |s, _| {
        s.state("ann") == "playing"
    });
    assert_eq!(a.items("ann"), before);
    // its autosaved state was uploaded first, then acquired back as unchanged
    assert_eq!(c.stored()["ann"].generation, 1);
    let acquires: Vec<_> = c
        .log
        .iter()
        .filter(|(_, v)| v["type"] == "acquire")
        .map(|(_, v)| v.clone())
        .collect();
    let last = acquires.last().unwrap();
    assert_eq!(last["unchanged"], serde_json::json!(true));
    assert!(!a.host_sent.iter().any(|t| t == "player_data"));
}

#[test]
fn a_stale_upload_after_a_restart_is_refused_and_the_newer_data_downloaded() {
    let mut c = Cluster::default();
    let mut a = server_with_autosave(40);
    a.run(&mut c, 1);
    a.join("ann");
    a.run_until(&mut c, 300, "playing", |s, _| s.state("ann") == "playing");
    a.run(&mut c, 50); // autosaved while ann plays
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='coal', count=7}",
    );
    a.leave("ann");
    a.run_until(&mut c, 300, "uploaded", |_, c| {
        c.stored().contains_key("ann")
    });
    assert!(
        a.game.tick() % 40 > 5,
        "no autosave between the leave and the crash (tick {})",
        a.game.tick()
    );
    // the server dies before its next autosave: it comes back with ann online and coal-less
    a.crash_and_restart();
    a.run_until(&mut c, 600, "the stale upload is refused", |s, c| {
        c.count("alpha", "upload") == 2 && s.state("ann") == "idle"
    });
    assert_eq!(c.stored()["ann"].generation, 1, "the stored data stays");
    assert!(a.host_sent.iter().any(|t| t == "upload_refused"));
    // when ann comes back, the stored (newer) data is downloaded
    a.join("ann");
    a.run_until(&mut c, 600, "playing", |s, _| s.state("ann") == "playing");
    assert_eq!(
        a.items("ann").get(&("coal".into(), "normal".into())),
        Some(&7)
    );
}
