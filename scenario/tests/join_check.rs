//! A returning player's `acquire` claims the local copy unchanged at once, and the module
//! checks that copy while the answer travels (PROTOCOL.md 7, `acquire`): a player whose newer
//! data is elsewhere never waits for the local inventory to be read, and one whose local copy
//! changed while they were away never plays it (a failed check asks again without the claim).

mod support;

use invsync_player_data::SampleKind;
use serde_json::{Value, json};
use support::*;

fn server(name: &str) -> Server {
    let mut s = Server::new(name, config(&control_with(""), 0, false));
    s.run(&mut Cluster::default(), 1);
    s
}

fn name_of(data: &str) -> String {
    serde_json::from_str::<Value>(data).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The acquires of `player` the cluster received from `server`, in order.
fn acquires(c: &Cluster, server: &str, player: &str) -> Vec<Value> {
    c.log
        .iter()
        .filter(|(s, v)| s == server && v["type"] == "acquire" && v["player"] == player)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Runs ticks until `name` plays on `s`, recording every sync state it passes through and
/// the tick each first appeared (ticks after the join).
fn states_until_playing(s: &mut Server, c: &mut Cluster, name: &str) -> Vec<(String, u64)> {
    let mut seen: Vec<(String, u64)> = Vec::new();
    for tick in 0..3000 {
        let state = s.state(name);
        // the join is handled at the next tick
        if seen.is_empty() && state == "idle" {
            s.run(c, 1);
            continue;
        }
        if seen.last().map(|(st, _)| st) != Some(&state) {
            seen.push((state.clone(), tick));
        }
        if state == "playing" {
            return seen;
        }
        s.run(c, 1);
    }
    panic!("{name} not playing after 3000 ticks: {seen:?}");
}

#[test]
fn newer_data_elsewhere_is_asked_for_at_once_and_the_local_copy_is_never_waited_for() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let mut b = server("beta");
    let data = sample(SampleKind::Rep, 3);
    let name = name_of(&data);
    c.seed(&name, 1, data);
    // alpha gets the big inventory and keeps a synced copy of it
    play(&mut a, &mut c, &name);
    leave_and_upload(&mut a, &mut c, &name, 2);
    // the game has the confirmation of its upload
    a.run(&mut c, 30);
    // the player goes on on beta, so alpha's copy is old
    play(&mut b, &mut c, &name);
    b.sc(
        &mut c,
        &format!("game.get_player('{name}').insert{{name='coal', count=7}}"),
    );
    let coal = item_count(&b, &name, "coal");
    leave_and_upload(&mut b, &mut c, &name, 3);

    a.join(&name);
    let states = states_until_playing(&mut a, &mut c, &name);
    let asked = acquires(&c, "alpha", &name);
    let last = asked.last().unwrap();
    // alpha claims its copy (generation 2) unchanged, and the host sends generation 3 anyway
    assert_eq!(last["generation"], json!(2), "{asked:?}");
    assert_eq!(last["unchanged"], json!(true), "{asked:?}");
    assert_eq!(
        states[0].0, "acquiring",
        "asked at the join itself: {states:?}"
    );
    assert!(
        !states.iter().any(|(s, _)| s == "reading"),
        "never waited for the local copy to be read: {states:?}"
    );
    assert!(states.iter().any(|(s, _)| s == "applying"), "{states:?}");
    assert_eq!(item_count(&a, &name, "coal"), coal, "beta's data is played");
    leave_and_upload(&mut a, &mut c, &name, 4);
}

#[test]
fn an_unchanged_local_copy_is_played_only_once_its_check_holds() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let data = sample(SampleKind::Rep, 4);
    let name = name_of(&data);
    c.seed(&name, 1, data);
    play(&mut a, &mut c, &name);
    leave_and_upload(&mut a, &mut c, &name, 2);
    // the game has the confirmation of its upload
    a.run(&mut c, 30);
    let before = a.items(&name);
    let sent = a.host_sent.len();
    a.join(&name);
    let states = states_until_playing(&mut a, &mut c, &name);
    // the answer (keep the local copy) came before the check of 4000 stacks ended: the player
    // waited in `reading` for it, and no data was sent
    let reading = states.iter().position(|(s, _)| s == "reading");
    assert!(reading.is_some(), "{states:?}");
    assert_eq!(states[reading.unwrap() + 1].0, "playing", "{states:?}");
    assert!(
        !a.host_sent[sent..].iter().any(|t| t == "player_data"),
        "{:?}",
        a.host_sent
    );
    assert_eq!(
        acquires(&c, "alpha", &name).last().unwrap()["unchanged"],
        json!(true)
    );
    assert_eq!(a.items(&name), before);
}

#[test]
fn a_local_copy_changed_while_away_fails_its_check_and_the_stored_data_is_played() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    play(&mut a, &mut c, "ann");
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='iron-plate', count=40}",
    );
    leave_and_upload(&mut a, &mut c, "ann", 1);
    // a script changes the character the module keeps for the absent player
    let index = a.index_of("ann");
    a.sc(
        &mut c,
        &format!("storage.invsync.sync.players[{index}].character.insert{{name='coal', count=99}}"),
    );
    let acquired_before = c.count("alpha", "acquire");
    a.join("ann");
    let states = states_until_playing(&mut a, &mut c, "ann");
    let asked = acquires(&c, "alpha", "ann");
    assert_eq!(
        c.count("alpha", "acquire"),
        acquired_before + 2,
        "claimed, then asked again: {asked:?}"
    );
    let (claim, again) = (&asked[asked.len() - 2], &asked[asked.len() - 1]);
    assert_eq!(claim["unchanged"], json!(true));
    assert_eq!(again["unchanged"], json!(false));
    assert_eq!(again["generation"], json!(1));
    assert!(a.host_sent.iter().any(|t| t == "player_data"), "{states:?}");
    // the stored data is played: the coal the script added is not the player's
    assert_eq!(item_count(&a, "ann", "coal"), 0, "{states:?}");
    assert_eq!(item_count(&a, "ann", "iron-plate"), 40);
    // the grant of the second acquire is the one played under: its upload is stored
    leave_and_upload(&mut a, &mut c, "ann", 2);
}

/// The sync ticks of `name`, playing on `s` (PROTOCOL.md 5.3 `sync_ticks`, read from the
/// module's record).
fn sync_ticks(s: &Server, name: &str) -> u64 {
    let index = s.index_of(name);
    s.eval(&format!(
        "local r = storage.invsync.sync.players[{index}] return r.playing_since - r.sync_started"
    ))
}

#[test]
fn a_small_join_right_after_a_big_leave_is_not_held_up_by_its_capture() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let data = sample(SampleKind::Rep, 5);
    let big = name_of(&data);
    c.seed(&big, 1, data);
    play(&mut a, &mut c, &big);
    play(&mut a, &mut c, "ann");
    leave_and_upload(&mut a, &mut c, "ann", 1);
    a.run(&mut c, 30);
    play(&mut a, &mut c, "ann");
    let alone = sync_ticks(&a, "ann");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    a.run(&mut c, 30);
    // the big player leaves (every stack read in the event) and ann joins at once
    a.leave(&big);
    a.join("ann");
    a.run_until(&mut c, 600, "ann playing", |s, _| {
        s.state("ann") == "playing"
    });
    let after = sync_ticks(&a, "ann");
    assert!(
        after <= alone + 2,
        "alone {alone} ticks, right after the big leave {after}"
    );
}
