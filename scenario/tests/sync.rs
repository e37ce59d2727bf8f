//! The player sync in the emulator, against a scripted host: data survives join -> play ->
//! leave -> join elsewhere byte for byte; unchanged inventories are not downloaded again;
//! busy, error and timeout answers; the temporary inventory and its merge; overflow; items the
//! game does not know; upload retries; leaving in the middle. Every tick of every test stays
//! within the instruction budget.

mod support;

use invsync_player_data::PlayerData;
use invsync_player_data::SampleKind;
use serde_json::{Value, json};
use support::*;

/// Short timeouts so that failures happen within a few hundred ticks.
const FAST: &str = "acquire_timeout = 120, download_timeout = 120, upload_retry_ticks = 60";

fn server(name: &str, settings: &str) -> Server {
    let mut s = Server::new(name, config(&control_with(settings), 0, false));
    s.run(&mut Cluster::default(), 1);
    s
}

/// An empty cluster and a fresh server "alpha" with the default settings.
fn cluster_and_alpha() -> (Cluster, Server) {
    (Cluster::default(), server("alpha", ""))
}

fn name_of(data: &str) -> String {
    serde_json::from_str::<Value>(data).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Stores sample player data (`kind`, made from `seed`) on the cluster at `generation`;
/// returns the data and the player's name.
fn seed_sample(c: &mut Cluster, kind: SampleKind, seed: u64, generation: u64) -> (String, String) {
    let data = sample(kind, seed);
    let name = name_of(&data);
    c.seed(&name, generation, data.clone());
    (data, name)
}

/// Runs ticks until player `name` is in sync state `state`, at most `max`; `what` names the
/// wait in the failure message.
fn run_until_state(
    s: &mut Server,
    c: &mut Cluster,
    name: &str,
    state: &str,
    max: u64,
    what: &str,
) -> u64 {
    s.run_until(c, max, what, |s, _| s.state(name) == state)
}

/// Player `name` joins; runs ticks until it is in sync state `state`, at most `max`.
fn join_until_state(s: &mut Server, c: &mut Cluster, name: &str, state: &str, max: u64) -> u64 {
    s.join(name);
    run_until_state(s, c, name, state, max, state)
}

fn join_and_play(s: &mut Server, c: &mut Cluster, name: &str) -> u64 {
    s.join(name);
    run_until_state(s, c, name, "playing", 3000, &format!("{name} playing"))
}

fn leave_and_upload(s: &mut Server, c: &mut Cluster, name: &str, generation: u64) {
    s.leave(name);
    s.run_until(
        c,
        3000,
        &format!("{name} uploaded at {generation}"),
        |s, c| {
            s.state(name) == "idle"
                && c.stored()
                    .get(name)
                    .is_some_and(|d| d.generation == generation)
        },
    );
}

/// Whether player `name` has a character (a spectator waiting for its data has none).
fn has_character(s: &Server, name: &str) -> bool {
    s.game
        .world()
        .player_by_name(name)
        .unwrap()
        .character
        .is_some()
}

fn assert_within_budget(s: &Server) {
    assert!(
        s.over_budget.is_empty(),
        "{}: ticks over {TICK_INSTRUCTION_BUDGET} instructions: {:?}",
        s.name,
        s.over_budget
    );
    assert_eq!(s.long_lines, 0, "{}: stdout lines over 3999 bytes", s.name);
}

#[test]
fn the_game_writes_back_exactly_the_data_it_was_given() {
    for kind in [SampleKind::Small, SampleKind::Rep, SampleKind::Bp] {
        let (mut c, mut a) = cluster_and_alpha();
        let (data, name) = seed_sample(&mut c, kind, 7, 1);
        join_and_play(&mut a, &mut c, &name);
        leave_and_upload(&mut a, &mut c, &name, 2);
        assert_same_player_data(&data, &c.stored()[&name].data);
        // and the typed model of the codec reads it
        let typed = PlayerData::from_json(c.stored()[&name].data.as_bytes()).expect("PlayerData");
        let given = PlayerData::from_json(data.as_bytes()).unwrap();
        assert_eq!(typed.stacks().count(), given.stacks().count(), "{kind}");
        assert_within_budget(&a);
    }
}

#[test]
fn data_survives_join_play_leave_join_elsewhere_byte_for_byte_through_faults() {
    let (mut c, mut a) = cluster_and_alpha();
    let (_, name) = seed_sample(&mut c, SampleKind::Bp, 3, 5);
    a.faults = Faults::all();
    a.status_after = 60;
    join_and_play(&mut a, &mut c, &name);
    assert!(a.resent_frames > 0, "some frames were dropped and resent");
    // the game has what the data says: the cursor, a colour, a bonus, a blueprint
    let index = a.index_of(&name);
    let cursor: String = a.eval(&format!(
        "local p = game.get_player({index}) return p.cursor_stack.name .. ' ' .. p.cursor_stack.count"
    ));
    assert_eq!(cursor, "transport-belt 42");
    // play: items of several kinds, a new cursor, a colour, a bonus
    a.sc(
        &mut c,
        &format!(
            "local p = game.get_player({index}) local inv = p.get_main_inventory() \
             p.insert{{name='iron-plate', count=50, quality='rare'}} \
             p.insert{{name='gun-turret', count=3, health=0.25}} \
             p.cursor_stack.set_stack{{name='repair-pack', count=7, durability=123.5}} \
             p.color = {{r=0.1, g=0.2, b=0.3, a=0.9}} \
             p.character.character_mining_speed_modifier = 1.75"
        ),
    );
    leave_and_upload(&mut a, &mut c, &name, 6);
    let after_a = c.stored()[&name].data.clone();
    let typed = PlayerData::from_json(after_a.as_bytes()).unwrap();
    let cursor = typed.cursor.as_ref().expect("cursor");
    assert_eq!(
        (cursor.name.as_str(), cursor.count, cursor.durability),
        ("repair-pack", 7, Some(123.5))
    );
    assert!(
        typed.stacks().any(|s| s.name == "iron-plate"
            && s.quality.as_deref() == Some("rare")
            && s.count == 50)
    );
    assert!(
        typed
            .stacks()
            .any(|s| s.name == "gun-turret" && s.health == Some(0.25))
    );
    assert_eq!(
        typed.bonuses.get("character_mining_speed_modifier"),
        Some(&1.75)
    );
    assert_eq!(typed.color.unwrap().g, 0.2);
    assert!(
        typed.stacks().any(|s| s.export.is_some()),
        "blueprints travel"
    );

    // join on another server: a fresh game that never saw this player
    let mut b = server("beta", "");
    b.faults = Faults::all();
    b.rng = Rng::new(99);
    b.status_after = 60;
    join_and_play(&mut b, &mut c, &name);
    leave_and_upload(&mut b, &mut c, &name, 7);
    assert_eq!(
        c.stored()[&name].data,
        after_a,
        "the data written on beta is byte for byte what alpha wrote"
    );
    assert_within_budget(&a);
    assert_within_budget(&b);
}

#[test]
fn an_unchanged_local_inventory_is_not_downloaded_and_newer_data_replaces_it() {
    let mut c = Cluster::default();
    let mut a = server("alpha", "");
    let mut b = server("beta", "");
    // new to the cluster: keeps what the scenario gave, uploads generation 1 on leave
    join_and_play(&mut a, &mut c, "ann");
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='coal', count=30}",
    );
    leave_and_upload(&mut a, &mut c, "ann", 1);
    let before = a.items("ann");
    // back on alpha: the local copy is what was uploaded, so nothing is downloaded
    join_and_play(&mut a, &mut c, "ann");
    let acquire = c
        .log
        .iter()
        .rev()
        .find(|(_, v)| v["type"] == "acquire")
        .unwrap()
        .1
        .clone();
    assert_eq!(acquire["unchanged"], json!(true));
    assert_eq!(acquire["generation"], json!(1));
    assert!(
        !a.host_sent.iter().any(|t| t == "player_data"),
        "no download: {:?}",
        a.host_sent
    );
    assert_eq!(a.items("ann"), before);
    leave_and_upload(&mut a, &mut c, "ann", 2);
    // played elsewhere meanwhile: the newer data replaces alpha's copy
    join_and_play(&mut b, &mut c, "ann");
    b.sc(
        &mut c,
        "local p = game.get_player('ann') p.remove_item{name='coal', count=30} p.insert{name='stone', count=12}",
    );
    leave_and_upload(&mut b, &mut c, "ann", 3);
    join_and_play(&mut a, &mut c, "ann");
    assert!(a.host_sent.iter().any(|t| t == "player_data"));
    let items = a.items("ann");
    assert_eq!(
        items.get(&("stone".into(), "normal".into())),
        Some(&12),
        "{items:?}"
    );
    assert_eq!(items.get(&("coal".into(), "normal".into())), None);
    assert_within_budget(&a);
    assert_within_budget(&b);
}

#[test]
fn busy_and_error_answers_offer_retry() {
    let mut c = Cluster::default();
    let mut a = server("alpha", FAST);
    c.answers.insert("ann".into(), Answer::Busy("gamma".into()));
    a.join("ann");
    run_until_state(&mut a, &mut c, "ann", "failed", 300, "failed on busy");
    let status = a.gui_caption("ann", "invsync_status").unwrap();
    assert!(status.contains("gamma"), "says which server: {status}");
    assert!(a.gui_visible("ann", "invsync_retry"));
    assert!(a.gui_visible("ann", "invsync_temporary"));
    // the player waits as a spectator: no character to play with
    assert!(!has_character(&a, "ann"));
    c.answers
        .insert("ann".into(), Answer::Error("disk on fire".into()));
    a.click("ann", "invsync_retry");
    a.run_until(&mut c, 300, "failed on error", |s, _| {
        s.gui_caption("ann", "invsync_status")
            .is_some_and(|t| t.contains("disk on fire"))
    });
    c.answers.remove("ann");
    a.click("ann", "invsync_retry");
    run_until_state(&mut a, &mut c, "ann", "playing", 300, "playing after retry");
    assert!(!a.gui_visible("ann", "invsync_sync"), "the window is gone");
    assert!(has_character(&a, "ann"));
    assert_within_budget(&a);
}

#[test]
fn a_stalled_download_offers_a_temporary_inventory_merged_at_the_next_sync_without_loss() {
    let mut c = Cluster::default();
    // stored data that fills every main and trash slot, so the temporary items overflow
    let mut stored = json!({"format": 1, "name": "ann", "inventories": {"main": [], "trash": []}});
    for slot in 1..=80 {
        stored["inventories"]["main"]
            .as_array_mut()
            .unwrap()
            .push(json!({"slot": slot, "name": "iron-plate", "count": 100}));
    }
    for slot in 1..=10 {
        stored["inventories"]["trash"]
            .as_array_mut()
            .unwrap()
            .push(json!({"slot": slot, "name": "wood", "count": 100}));
    }
    c.seed("ann", 4, stored.to_string());
    let mut a = server("alpha", FAST);
    // the data never arrives
    a.lose_types = vec!["player_data".into()];
    join_until_state(&mut a, &mut c, "ann", "downloading", 400);
    run_until_state(&mut a, &mut c, "ann", "failed", 400, "failed on stall");
    assert!(
        a.gui_caption("ann", "invsync_status")
            .unwrap()
            .contains("stalled")
    );
    assert!(c.holder().contains_key("ann"), "still holds the lock");
    a.click("ann", "invsync_temporary");
    run_until_state(&mut a, &mut c, "ann", "temporary", 60, "temporary");
    assert!(
        !c.holder().contains_key("ann"),
        "a temporary inventory releases the lock"
    );
    assert!(a.gui_visible("ann", "invsync_sync_now"));
    a.sc(
        &mut c,
        "local p = game.get_player('ann') p.insert{name='stone', count=120} \
         p.insert{name='blueprint'} p.cursor_stack.set_stack{name='coal', count=5}",
    );
    let everything_before = a.all_items();
    // the network is back: sync now merges the temporary inventory into the synced one
    a.lose_types.clear();
    a.click("ann", "invsync_sync_now");
    run_until_state(&mut a, &mut c, "ann", "playing", 2000, "playing");
    let items = a.items("ann");
    assert_eq!(
        items.get(&("iron-plate".into(), "normal".into())),
        Some(&8000)
    );
    // what did not fit is kept and the player is told
    let overflow: u32 = a.eval(&format!(
        "return #storage.invsync.sync.players[{}].overflow",
        a.index_of("ann")
    ));
    assert!(
        overflow >= 3,
        "stone x2 stacks, blueprint, coal: {overflow}"
    );
    assert!(a.gui_visible("ann", "invsync_collect"));
    assert!(
        a.player_messages
            .iter()
            .any(|(_, m)| m.contains("did not fit"))
    );
    // nothing destroyed: the world's items plus the kept overflow equal what there was,
    // plus the downloaded data, minus the iron the temporary character never had
    let mut now = a.all_items();
    let kept: Vec<(String, String, u64)> = serde_json::from_str(&a.eval::<String>(&format!(
        "local out = {{}} for _, e in ipairs(storage.invsync.sync.players[{}].overflow) do \
         out[#out + 1] = string.format('[%q,%q,%d]', e.name, e.quality or 'normal', e.count) end \
         return '[' .. table.concat(out, ',') .. ']'",
        a.index_of("ann")
    )))
    .unwrap();
    for (item, quality, count) in kept {
        *now.entry((item, quality)).or_insert(0) += count;
    }
    for (key, count) in &everything_before {
        if key.0 == "iron-plate" || key.0 == "wood" {
            continue;
        }
        assert_eq!(now.get(key), Some(count), "{key:?} kept");
    }
    // make room and collect
    a.sc(
        &mut c,
        "local inv = game.get_player('ann').get_main_inventory() for i = 1, 10 do inv[i].clear() end",
    );
    a.click("ann", "invsync_collect");
    a.run(&mut c, 2);
    let items = a.items("ann");
    assert_eq!(
        items.get(&("stone".into(), "normal".into())),
        Some(&120),
        "{items:?}"
    );
    assert_eq!(items.get(&("blueprint".into(), "normal".into())), Some(&1));
    assert!(!a.gui_visible("ann", "invsync_collect"));
    assert_within_budget(&a);
}

#[test]
fn unknown_items_and_refused_exports_are_reported_and_skipped() {
    let mut c = Cluster::default();
    let data = json!({"format": 1, "name": "ann", "inventories": {
        "main": [
            {"slot": 1, "name": "iron-plate", "count": 10},
            {"slot": 2, "name": "modded-widget", "count": 3},
            {"slot": 3, "name": "copper-plate", "count": 5, "quality": "mythic"},
            {"slot": 4, "name": "blueprint", "count": 1, "export": "0notbase64!!"},
            {"slot": 5, "name": "coal", "count": "many"},
            {"slot": 6, "name": "stone", "count": 7}
        ]},
        "cursor": {"name": "removed-mod-tool", "count": 1}
    });
    c.seed("ann", 2, data.to_string());
    let mut a = server("alpha", "");
    join_and_play(&mut a, &mut c, "ann");
    let items = a.items("ann");
    assert_eq!(
        items.get(&("iron-plate".into(), "normal".into())),
        Some(&10)
    );
    assert_eq!(items.get(&("stone".into(), "normal".into())), Some(&7));
    assert_eq!(items.len(), 2, "{items:?}");
    let told: Vec<&String> = a
        .player_messages
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.contains("could not be restored") || m.starts_with("  "))
        .collect();
    let text = told
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "5 stack(s)",
        "modded-widget",
        "mythic",
        "export string",
        "count",
        "removed-mod-tool",
    ] {
        assert!(text.contains(needle), "told about {needle}:\n{text}");
    }
    let skipped: u32 = a.eval(&format!(
        "return #storage.invsync.sync.players[{}].skipped",
        a.index_of("ann")
    ));
    assert_eq!(skipped, 5);
    // not fatal: the player plays, and the next upload holds what the game placed, plus
    // every stack it could not place, carried as `unplaced` (only the malformed coal entry,
    // which is no item, is not carried)
    leave_and_upload(&mut a, &mut c, "ann", 3);
    let up = PlayerData::from_json(c.stored()["ann"].data.as_bytes()).unwrap();
    assert_eq!(up.inventories.main.len(), 2, "iron-plate and stone placed");
    let carried: Vec<(String, u32, Option<String>)> = up
        .unplaced
        .iter()
        .map(|s| (s.name.clone(), s.count, s.quality.clone()))
        .collect();
    assert_eq!(
        carried,
        [
            ("modded-widget".to_string(), 3, None),
            ("copper-plate".to_string(), 5, Some("mythic".to_string())),
            ("blueprint".to_string(), 1, None),
            ("removed-mod-tool".to_string(), 1, None),
        ]
    );
    assert_eq!(up.unplaced[2].export.as_deref(), Some("0notbase64!!"));
    assert_eq!(up.stacks().count(), 6);
    // and the next game that cannot place them carries them on unchanged
    let mut b = server("beta", "");
    join_and_play(&mut b, &mut c, "ann");
    leave_and_upload(&mut b, &mut c, "ann", 4);
    let again = PlayerData::from_json(c.stored()["ann"].data.as_bytes()).unwrap();
    let sorted = |v: &[invsync_player_data::Stack]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| (&a.name, &a.quality).cmp(&(&b.name, &b.quality)));
        v
    };
    assert_eq!(
        sorted(&again.unplaced),
        sorted(&up.unplaced),
        "the same stacks, in any order"
    );
    assert_eq!(again.inventories.main, up.inventories.main);
    assert_within_budget(&a);
}

#[test]
fn uploads_are_retried_with_backoff_until_confirmed() {
    let mut c = Cluster::default();
    let mut a = server(
        "alpha",
        "upload_retry_ticks = 30, upload_retry_max_ticks = 100",
    );
    join_and_play(&mut a, &mut c, "ann");
    // the first upload is stored, but its answer and the next three are lost
    c.ignore_uploads = 4;
    a.leave("ann");
    a.run_until(&mut c, 2000, "five uploads", |_, c| c.uploads.len() == 5);
    a.run(&mut c, 5);
    assert_eq!(
        c.stored()["ann"].generation,
        1,
        "repeats store nothing more"
    );
    assert_eq!(
        c.uploads.len(),
        5,
        "four lost answers, then the fifth upload is confirmed"
    );
    let gaps: Vec<u64> = a.upload_ticks.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [30, 60, 100, 100],
        "backoff doubles up to the maximum"
    );
    // every upload carries the same data, so the host can take a repeat as the same upload
    assert!(c.uploads.windows(2).all(|w| w[0].3 == w[1].3));
    assert_eq!(a.state("ann"), "idle");
    // the upload has been forgotten (no more retries)
    a.run(&mut c, 300);
    assert_eq!(c.uploads.len(), 5);
    assert_within_budget(&a);
}

#[test]
fn leaving_before_the_sync_finishes_releases_and_uploads_nothing() {
    let (mut c, mut a) = cluster_and_alpha();
    let (_, name) = seed_sample(&mut c, SampleKind::Rep, 2, 9);
    join_until_state(&mut a, &mut c, &name, "downloading", 600);
    a.leave(&name);
    a.run(&mut c, 400);
    assert_eq!(a.state(&name), "idle");
    assert!(c.uploads.is_empty(), "nothing uploaded");
    assert_eq!(c.count("alpha", "release"), 1);
    assert!(!c.holder().contains_key(&name), "the lock is released");
    // and the next join syncs normally
    join_and_play(&mut a, &mut c, &name);
    leave_and_upload(&mut a, &mut c, &name, 10);
    assert_within_budget(&a);
}

#[test]
fn leaving_while_the_data_is_applied_uploads_nothing_and_the_next_join_downloads_again() {
    let (mut c, mut a) = cluster_and_alpha();
    let (data, name) = seed_sample(&mut c, SampleKind::Rep, 4, 2);
    join_until_state(&mut a, &mut c, &name, "applying", 1000);
    a.tick(&mut c);
    assert_eq!(a.state(&name), "applying", "applying takes several ticks");
    a.leave(&name);
    a.run(&mut c, 200);
    assert_eq!(a.state(&name), "idle");
    assert!(
        c.uploads.is_empty(),
        "a partly applied inventory is never uploaded"
    );
    assert!(!c.holder().contains_key(&name));
    let downloads = a.host_sent.iter().filter(|t| *t == "player_data").count();
    join_and_play(&mut a, &mut c, &name);
    assert_eq!(
        a.host_sent.iter().filter(|t| *t == "player_data").count(),
        downloads + 1,
        "downloaded again"
    );
    leave_and_upload(&mut a, &mut c, &name, 3);
    assert_same_player_data(&data, &c.stored()[&name].data);
    assert_within_budget(&a);
}

#[test]
fn the_example_scenario_syncs_with_its_few_lines() {
    let mut c = Cluster::default();
    let cfg = invsync_emulator::GameConfig {
        scenario: scenario(None),
        ..invsync_emulator::GameConfig::default()
    };
    let mut a = Server::new("alpha", cfg);
    a.run(&mut c, 1);
    assert!(a.caps.is_some());
    join_and_play(&mut a, &mut c, "ann");
    a.sc(
        &mut c,
        "game.get_player('ann').insert{name='coal', count=3}",
    );
    leave_and_upload(&mut a, &mut c, "ann", 1);
    // its on_message handler logs the scenario's own messages
    a.send(b"hello from the host");
    a.run(&mut c, 20);
    assert!(
        a.logs
            .iter()
            .any(|l| l.contains("invsync example: message")),
        "{:?}",
        a.logs
    );
    assert_within_budget(&a);
}
