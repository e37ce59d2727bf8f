//! A returning player's `acquire` claims the local copy unchanged at once, and the module
//! checks that copy while the answer travels (PROTOCOL.md 7, `acquire`): a player whose newer
//! data is elsewhere never waits for the local inventory to be read, and one whose local copy
//! changed while they were away never plays it (a failed check asks again without the claim).

mod support;

use invsync_player_data::SampleKind;
use serde_json::{Value, json};
use std::collections::BTreeMap;
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

/// The slot of the first stack of item type `kind` after slot `after` in the main inventory of
/// the character the module keeps for `name` (who is away).
fn kept_slot_of(s: &Server, name: &str, kind: &str, after: u32) -> u32 {
    let index = s.index_of(name);
    s.eval(&format!(
        "local inv = storage.invsync.sync.players[{index}].character.get_main_inventory()
         for i = {after} + 1, #inv do
           if inv[i].valid_for_read and inv[i].type == '{kind}' then return i end
         end
         error('no {kind} in the kept character')"
    ))
}

/// A blueprint library is read once, when its player leaves: the check of the kept character
/// at the next join refers to each export by its slot (player_data.lua, "Export references")
/// instead of exporting and checksumming the library again.
#[test]
fn an_unchanged_blueprint_library_is_played_at_once_and_uploaded_again_byte_for_byte() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let data = sample(SampleKind::Bp, 6);
    let name = name_of(&data);
    c.seed(&name, 1, data);
    play(&mut a, &mut c, &name);
    leave_and_upload(&mut a, &mut c, &name, 2);
    a.run(&mut c, 30);
    let uploaded = c.stored()[&name].data.clone();
    let sent = a.host_sent.len();
    a.join(&name);
    states_until_playing(&mut a, &mut c, &name);
    // reading the ~200 kB of exports again took 13 ticks (export 2 bytes and checksum 1 byte
    // a unit, 24 576 units a tick)
    let ticks = sync_ticks(&a, &name);
    assert!(ticks <= 5, "joined to playing in {ticks} ticks");
    assert!(
        !a.host_sent[sent..].iter().any(|t| t == "player_data"),
        "the local copy is kept: {:?}",
        &a.host_sent[sent..]
    );
    // the upload of the references' character carries every export string again
    leave_and_upload(&mut a, &mut c, &name, 3);
    assert_eq!(c.stored()[&name].data, uploaded);
}

/// What the check compares of a kept blueprint-like stack: its name, quality and count in its
/// slot. Swapped for another item, the check fails and the stored data is played; its contents
/// edited by a script, the check holds and the edit stays with the character (it travels in the
/// next upload: no item is lost or made).
#[test]
fn a_kept_blueprint_swapped_fails_the_check_and_one_edited_in_place_travels_on() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let data = sample(SampleKind::Bp, 7);
    let name = name_of(&data);
    c.seed(&name, 1, data);
    play(&mut a, &mut c, &name);
    leave_and_upload(&mut a, &mut c, &name, 2);
    a.run(&mut c, 30);
    let index = a.index_of(&name);
    let uploaded: Value = serde_json::from_str(&c.stored()[&name].data).unwrap();

    // a script edits a kept blueprint in place: another blueprint's export in the same slot
    let slot = kept_slot_of(&a, &name, "blueprint", 0);
    let other = kept_slot_of(&a, &name, "blueprint", slot);
    let _: u32 = a.eval(&format!(
        "local inv = storage.invsync.sync.players[{index}].character.get_main_inventory()
         -- another blueprint of the same item: a copy of the next one
         local text = inv[{other}].export_stack()
         assert(text ~= inv[{slot}].export_stack(), 'the next is another blueprint')
         assert(inv[{slot}].import_stack(text) == 0)
         storage.edited = text
         return 0"
    ));
    let edited: String = a.eval("return storage.edited");
    a.join(&name);
    states_until_playing(&mut a, &mut c, &name);
    assert_eq!(
        acquires(&c, "alpha", &name).len(),
        2,
        "the edit is not seen by the check: one acquire at this join"
    );
    leave_and_upload(&mut a, &mut c, &name, 3);
    let after: Value = serde_json::from_str(&c.stored()[&name].data).unwrap();
    let export_at = |v: &Value, slot: u32| -> Option<String> {
        v["inventories"]["main"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["s"] == json!(slot))
            .and_then(|e| e["x"].as_str().map(str::to_string))
    };
    assert_eq!(export_at(&after, slot).as_deref(), Some(edited.as_str()));
    assert_ne!(export_at(&uploaded, slot), export_at(&after, slot));
    a.run(&mut c, 30);

    // swapped for another item: the check fails and the stored data (generation 3) is played
    let _: u32 = a.eval(&format!(
        "local inv = storage.invsync.sync.players[{index}].character.get_main_inventory()
         inv[{slot}].set_stack{{name = 'deconstruction-planner', count = 1}}
         return 0"
    ));
    let asked = acquires(&c, "alpha", &name).len();
    a.join(&name);
    states_until_playing(&mut a, &mut c, &name);
    let again = acquires(&c, "alpha", &name);
    assert_eq!(
        again.len(),
        asked + 2,
        "claimed, then asked again: {again:?}"
    );
    assert_eq!(again.last().unwrap()["unchanged"], json!(false));
    let back: String = a.eval(&format!(
        "return game.get_player('{name}').get_main_inventory()[{slot}].export_stack()"
    ));
    assert_eq!(back, edited, "the stored blueprint is played");
}

/// The uploads of `name` stored as `generation`, byte for byte.
fn upload_of(c: &Cluster, name: &str, generation: u64) -> String {
    c.uploads
        .iter()
        .rev()
        .find(|(_, p, g, _)| p == name && *g == generation)
        .map(|(_, _, _, text)| text.clone())
        .unwrap_or_else(|| panic!("no upload of {name} at generation {generation}"))
}

/// A `bp` player plays on alpha, then on beta, where three stacks change; alpha keeps the
/// copy of its generation 2 and the store holds beta's generation 3. Returns the player's
/// name and what they carry after beta.
fn to_beta_and_back(
    c: &mut Cluster,
    a: &mut Server,
    b: &mut Server,
    seed: u64,
) -> (String, BTreeMap<(String, String), u64>) {
    let data = sample(SampleKind::Bp, seed);
    let name = name_of(&data);
    c.seed(&name, 1, data);
    play(a, c, &name);
    leave_and_upload(a, c, &name, 2);
    a.run(c, 30);
    play(b, c, &name);
    b.sc(
        c,
        &format!(
            "local p = game.get_player('{name}') p.insert{{name='coal', count=7}} \
             p.insert{{name='copper-cable', count=13}} p.insert{{name='stone', count=3}}"
        ),
    );
    let carried = b.items(&name);
    leave_and_upload(b, c, &name, 3);
    (name, carried)
}

/// Issue 16 part 4: a returning player whose blueprint library did not change gets only what
/// changed since the generation this server holds, and plays as soon as a small player does.
#[test]
fn a_returning_player_gets_only_what_changed_and_plays_within_5_ticks() {
    let (mut c, mut a, mut b) = (Cluster::default(), server("alpha"), server("beta"));
    let (name, carried) = to_beta_and_back(&mut c, &mut a, &mut b, 8);
    let sent = a.host_sent.len();
    a.join(&name);
    let states = states_until_playing(&mut a, &mut c, &name);
    let claim = acquires(&c, "alpha", &name).pop().unwrap();
    assert_eq!(claim["delta"], json!(true), "{claim}");
    let mut answers = a.host_sent[sent..].to_vec();
    answers.sort();
    assert_eq!(answers, ["acquired", "player_delta"], "{states:?}");
    assert!(states.iter().any(|(s, _)| s == "verifying"), "{states:?}");
    assert_eq!(a.items(&name), carried);
    // as fast as a small player's first join here (a 1 kB download): this harness's RCON is
    // slower than a real host's (`invsync demo` measures the 5 ticks of issue 16)
    let ticks = sync_ticks(&a, &name);
    let small = sample(SampleKind::Small, 8);
    let other = name_of(&small);
    c.seed(&other, 1, small);
    play(&mut a, &mut c, &other);
    let small = sync_ticks(&a, &other);
    assert!(
        ticks <= small,
        "joined to playing in {ticks} ticks, a small first join in {small}: {states:?}"
    );
    // what the delta made is generation 3 to the byte: the next upload is the same
    leave_and_upload(&mut a, &mut c, &name, 4);
    assert_eq!(upload_of(&c, &name, 4), upload_of(&c, &name, 3));
}

/// A delta whose result does not read back as the stored generation (here its checksum is
/// wrong, as for a delta against another base) is not played: the module asks for the whole
/// data, which replaces what the delta wrote; nothing is lost or doubled.
#[test]
fn a_delta_that_does_not_make_the_stored_data_falls_back_to_the_whole_data() {
    let (mut c, mut a, mut b) = (Cluster::default(), server("alpha"), server("beta"));
    let (name, carried) = to_beta_and_back(&mut c, &mut a, &mut b, 9);
    c.tamper_deltas = true;
    let sent = a.host_sent.len();
    a.join(&name);
    let states = states_until_playing(&mut a, &mut c, &name);
    let asked = acquires(&c, "alpha", &name);
    let (claim, again) = (&asked[asked.len() - 2], &asked[asked.len() - 1]);
    assert_eq!(
        (&claim["unchanged"], &claim["delta"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(again["unchanged"], json!(false), "{asked:?}");
    assert!(a.host_sent[sent..].iter().any(|t| t == "player_delta"));
    assert!(
        a.host_sent[sent..].iter().any(|t| t == "player_data"),
        "{states:?}"
    );
    assert!(
        a.logs
            .iter()
            .any(|l| l.contains("was not played") && l.contains("checksum")),
        "{:?}",
        a.logs
    );
    assert_eq!(a.items(&name), carried);
    leave_and_upload(&mut a, &mut c, &name, 4);
    assert_eq!(upload_of(&c, &name, 4), upload_of(&c, &name, 3));
}

/// The base of a delta is the local copy as this server uploaded it: changed while the player
/// was away, the delta is not written and the whole stored data is played.
#[test]
fn a_delta_over_a_local_copy_changed_while_away_is_not_written() {
    let (mut c, mut a, mut b) = (Cluster::default(), server("alpha"), server("beta"));
    let (name, carried) = to_beta_and_back(&mut c, &mut a, &mut b, 10);
    let index = a.index_of(&name);
    a.sc(
        &mut c,
        &format!("storage.invsync.sync.players[{index}].character.insert{{name='iron-gear-wheel', count=99}}"),
    );
    a.join(&name);
    let states = states_until_playing(&mut a, &mut c, &name);
    let again = acquires(&c, "alpha", &name).pop().unwrap();
    assert_eq!(again["unchanged"], json!(false), "{states:?}");
    assert!(
        !states.iter().any(|(s, _)| s == "verifying"),
        "never written: {states:?}"
    );
    assert_eq!(
        a.items(&name),
        carried,
        "the script's gears are not the player's"
    );
}

/// The delta path keeps the game deterministic: with lockstep peers (every peer runs the same
/// ticks and compares its state) and heavy mode (every tick saved and loaded again), a
/// returning player's delta is written, verified and played as without them.
#[test]
fn a_delta_is_played_the_same_with_lockstep_peers_and_heavy_mode() {
    let checked = |name: &str| {
        let mut s = Server::new(name, config(&control_with(""), 2, true));
        s.run(&mut Cluster::default(), 1);
        s
    };
    let (mut c, mut a, mut b) = (Cluster::default(), checked("alpha"), checked("beta"));
    let (name, carried) = to_beta_and_back(&mut c, &mut a, &mut b, 11);
    let sent = a.host_sent.len();
    a.join(&name);
    let states = states_until_playing(&mut a, &mut c, &name);
    assert!(
        a.host_sent[sent..].iter().any(|t| t == "player_delta"),
        "{states:?}"
    );
    assert!(states.iter().any(|(s, _)| s == "verifying"), "{states:?}");
    assert_eq!(a.items(&name), carried);
    leave_and_upload(&mut a, &mut c, &name, 4);
    assert_eq!(upload_of(&c, &name, 4), upload_of(&c, &name, 3));
}
